//! Lazy sources (SPEC `feed`/`feed_stream`, rules 6, 9, 11): never pulled
//! ahead, live children never above the limit, ten million children in
//! O(limit) memory, the source dropped without another pull after a
//! short-circuit.
mod common;

use common::*;
use futures::executor::block_on;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use trygroup::{CancelReason, TryGroup};

/// A live-children gauge: a guard per child, counted from creation to drop.
#[derive(Default)]
struct Live {
    now: AtomicUsize,
    max: AtomicUsize,
    made: AtomicUsize,
}

struct LiveGuard(Arc<Live>);

impl Live {
    fn guard(self: &Arc<Self>) -> LiveGuard {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        self.made.fetch_add(1, SeqCst);
        LiveGuard(self.clone())
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, SeqCst);
    }
}

#[test]
fn ten_million_lazy_children_under_limit_64() {
    const LIMIT: usize = 64;
    let n: usize = if cfg!(miri) { 2_000 } else { 10_000_000 };
    let live = Arc::new(Live::default());
    let mut group = TryGroup::<(), ()>::with_limit(LIMIT);
    let l = live.clone();
    group.feed((0..n).map(move |_| {
        // Pulled only when a slot is free: fewer than LIMIT are alive now.
        assert!(l.now.load(SeqCst) < LIMIT, "pulled ahead of a free slot");
        let guard = l.guard();
        async move {
            let _guard = guard;
            Ok(())
        }
    }));
    let out = block_on(group).unwrap();
    assert_eq!(out.len(), n);
    assert_eq!(live.made.load(SeqCst), n);
    assert!(live.max.load(SeqCst) <= LIMIT);
    assert_eq!(live.now.load(SeqCst), 0);
}

#[test]
fn a_lazy_source_is_never_pulled_ahead() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let gates: Vec<Gate> = (0..6).map(|_| Gate::new()).collect();
    let mut group = TryGroup::<usize, ()>::with_limit(2);
    let (p, gs) = (pulled.clone(), gates.clone());
    group.feed((0..6).map(move |i| {
        p.fetch_add(1, SeqCst);
        let g = gs[i].clone();
        async move {
            g.wait().await;
            Ok(i)
        }
    }));
    assert_eq!(
        pulled.load(SeqCst),
        0,
        "nothing pulled before the first poll"
    );
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(pulled.load(SeqCst), 2, "exactly one per free slot");
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(pulled.load(SeqCst), 2, "no slot freed, no pull");
    gates[1].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(pulled.load(SeqCst), 3);
    for g in &gates {
        g.open();
    }
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3, 4, 5]));
    assert_eq!(pulled.load(SeqCst), 6);
}

#[test]
fn a_lazy_source_waits_while_anything_is_queued() {
    // Rule 9: an item is taken only when a slot is free and nothing is queued.
    let pulled = Arc::new(AtomicUsize::new(0));
    let tracker = Tracker::new();
    let gate = Gate::new();
    let mut group = TryGroup::<usize, ()>::with_limit(1);
    for i in 0..3 {
        let g = gate.clone();
        group.push(tracker.track(i, async move {
            g.wait().await;
            Ok(i)
        }));
    }
    let p = pulled.clone();
    group.feed((10..13).map(move |i| {
        p.fetch_add(1, SeqCst);
        async move { Ok(i) }
    }));
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(pulled.load(SeqCst), 0, "queued children come first");
    gate.open();
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 10, 11, 12]));
    assert_eq!(pulled.load(SeqCst), 3);
}

#[test]
fn live_children_never_exceed_the_limit_with_mixed_sources() {
    const LIMIT: usize = 7;
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, ()>::with_limit(LIMIT);
    let t = tracker.clone();
    group.feed((0..300).map(move |i| {
        assert!(t.created() - t.dropped() < LIMIT, "live above the limit");
        t.track(i, async move {
            yield_times(i % 5).await;
            Ok(i)
        })
    }));
    let t = tracker.clone();
    group.feed_stream(futures::stream::iter(300..600).map(move |i| {
        assert!(t.created() - t.dropped() < LIMIT, "live above the limit");
        t.track(i, async move {
            yield_times(i % 3).await;
            Ok(i)
        })
    }));
    let out = block_on(group).unwrap();
    let mut sorted = out.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..600).collect::<Vec<_>>());
    assert!(tracker.max_active() <= LIMIT);
    tracker.assert_all_dropped();
}

/// Yields its items, then `None` once; polled after that, it panics.
struct Strict(Vec<u8>, bool);

impl futures::Stream for Strict {
    type Item = futures::future::Ready<Result<u8, ()>>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        assert!(!self.1, "a lazy source was polled after its end");
        let next = self.0.pop();
        self.1 = next.is_none();
        Poll::Ready(next.map(|v| futures::future::ready(Ok(v))))
    }
}

#[test]
fn sources_in_turn_an_ended_one_never_polled_again_a_pending_one_not_in_the_way() {
    // Sources are drained in the order they were fed; an exhausted source is
    // dropped at once, and a pending one lets the ones behind it go on.
    use futures::channel::mpsc;
    use futures_test::task::new_count_waker;
    let (tx, rx) = mpsc::unbounded::<u8>();
    let mut group = TryGroup::<u8, ()>::with_limit(1);
    group.feed_stream(Strict(vec![], false));
    group.feed_stream(Strict(vec![5, 4], false));
    group.feed_stream(rx.map(|v| async move { Ok(v) }));
    group.feed_stream(Strict(vec![3, 2, 1], false));
    let (waker, _) = new_count_waker();
    assert!(
        poll_with(&mut group, &waker).is_pending(),
        "the channel is open"
    );
    tx.unbounded_send(9).unwrap();
    drop(tx);
    assert_eq!(
        poll_with(&mut group, &waker),
        Poll::Ready(Ok(vec![4, 5, 1, 2, 3, 9]))
    );
}

#[test]
fn feed_items_are_numbered_when_pulled() {
    // Rule 11: direct pushes at once, lazy pulls when pulled.
    let mut group = TryGroup::<&str, ()>::new();
    group.push(async { Ok("a") });
    group.feed(["b", "c"].map(|s| async move { Ok(s) }));
    group.push(async { Ok("d") });
    assert_eq!(block_on(group), Ok(vec!["a", "d", "b", "c"]));
}

#[test]
fn feed_stream_that_is_pending_keeps_the_group_open() {
    // Rule 6: the group finishes only when every lazy source is exhausted.
    use futures::channel::mpsc;
    use futures_test::task::new_count_waker;
    let (tx, rx) = mpsc::unbounded::<u8>();
    let mut group = TryGroup::<u8, ()>::with_limit(2);
    group.feed_stream(rx.map(|v| async move { Ok(v) }));
    let (waker, count) = new_count_waker();
    assert!(
        poll_with(&mut group, &waker).is_pending(),
        "source not exhausted"
    );
    tx.unbounded_send(1).unwrap();
    assert!(count.get() >= 1, "an item arriving wakes the group");
    assert!(poll_with(&mut group, &waker).is_pending());
    tx.unbounded_send(2).unwrap();
    assert!(poll_with(&mut group, &waker).is_pending());
    let before = count.get();
    drop(tx);
    assert!(
        count.get() > before,
        "the end of the stream wakes the group"
    );
    assert_eq!(poll_with(&mut group, &waker), Poll::Ready(Ok(vec![1, 2])));
}

#[test]
fn the_source_is_dropped_after_a_short_circuit_without_another_pull() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let at_error = Arc::new(AtomicUsize::new(usize::MAX));
    let source_dropped = Arc::new(AtomicUsize::new(0));
    let mut group = TryGroup::<usize, usize>::with_limit(3);
    let token = group.token();
    let (p, at, guard) = (
        pulled.clone(),
        at_error.clone(),
        DropCount(source_dropped.clone()),
    );
    group.feed((0..1000).map(move |i| {
        let _ = &guard;
        p.fetch_add(1, SeqCst);
        let (p, at) = (p.clone(), at.clone());
        async move {
            yield_times(i % 4).await;
            if i == 10 {
                // The pull count at the moment the error is returned.
                at.store(p.load(SeqCst), SeqCst);
                Err(i)
            } else {
                Ok(i)
            }
        }
    }));
    assert_eq!(block_on(&mut group), Err(10));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 10 }));
    assert_eq!(
        source_dropped.load(SeqCst),
        1,
        "dropped before the group returned"
    );
    let at_error = at_error.load(SeqCst);
    assert_eq!(pulled.load(SeqCst), at_error, "no pull after the error");
}

#[test]
fn a_panicking_lazy_source_propagates_and_drops_every_child_once() {
    // Rule 10: a panic in a lazy source propagates, even with catch_panics.
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, TestError>::with_limit(3).catch_panics();
    let t = tracker.clone();
    group.feed((0..10).map(move |i| {
        if i == 5 {
            panic!("source boom");
        }
        t.track(i, async move {
            yield_times(i).await;
            Ok(i)
        })
    }));
    group.push(tracker.track(100, futures::future::pending()));
    let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
    assert_eq!(msg, "source boom");
    assert_eq!(tracker.dropped(), tracker.created());
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn lazy_sources_alone_under_no_limit() {
    let mut group = TryGroup::<u32, ()>::new();
    group.feed((0..1000u32).map(|i| async move { Ok(i) }));
    assert!(group.is_empty(), "lazy sources are not counted");
    assert_eq!(block_on(group), Ok((0..1000).collect::<Vec<_>>()));
}

#[test]
fn feed_after_a_failure_is_dropped_unpulled() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let gate = Gate::new();
    let mut group = TryGroup::<(), &str>::new().drain_on_error();
    let g = gate.clone();
    group.push(async move {
        g.wait().await;
        Ok(())
    });
    group.push(async { Err("x") });
    assert!(poll_once(&mut group).is_pending());
    let p = pulled.clone();
    group.feed((0..5).map(move |_| {
        p.fetch_add(1, SeqCst);
        async { Ok(()) }
    }));
    gate.open();
    assert_eq!(block_on(group), Err("x"));
    assert_eq!(pulled.load(SeqCst), 0);
}

use futures::StreamExt as _;

#[test]
fn a_waiting_handle_push_counts_as_queued_and_goes_before_the_source() {
    // Bug found by this test: the refill pulled the lazy source while a
    // handle push sat in the inbox, so the source took the freed slot first.
    // Rule 9 with the SPEC's definition of queued ("including handle pushes
    // the group has not taken in yet"): a handle push made by a child during
    // the poll waits for the freed slot; the lazy source must not take it.
    let tracker = Tracker::new();
    let mut group = TryGroup::<&str, ()>::with_limit(1);
    let handle = group.handle();
    let t = tracker.clone();
    group.push(tracker.track(0, async move {
        handle.push(t.track(1, async { Ok("handle") })).unwrap();
        Ok("first")
    }));
    let t = tracker.clone();
    group.feed((0..2).map(move |i| t.track(10 + i, async move { Ok("lazy") })));
    let out = block_on(group).unwrap();
    assert_eq!(
        tracker.start_order(),
        vec![0, 1, 10, 11],
        "handle push first"
    );
    assert_eq!(out, vec!["first", "handle", "lazy", "lazy"]);
}
