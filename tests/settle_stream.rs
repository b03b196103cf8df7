//! `settle()` and `into_stream()` (SPEC table and rule 8): settle collects
//! every result in push order and never cancels on an error; an outside
//! cancel gives `Err(Cancelled)` to each unfinished child. The stream yields
//! in completion order and yields the first error after the rest is dropped.
mod common;

use common::*;
use futures::executor::block_on;
use futures::future::FusedFuture;
use futures::stream::{FusedStream, StreamExt};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use trygroup::{CancelReason, TryGroup};

fn is_cancelled(r: &Result<usize, TestError>, reason: CancelReason) -> bool {
    r.as_ref().is_err_and(|e| e.cancelled() == Some(reason))
}

#[test]
fn settle_collects_every_result_in_push_order() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, usize>::with_limit(3);
    for i in 0..20 {
        group.push(tracker.track(i, async move {
            yield_times(20 - i).await;
            if i % 3 == 0 {
                Err(i)
            } else {
                Ok(i)
            }
        }));
    }
    let out = block_on(group.settle());
    let want: Vec<_> = (0..20)
        .map(|i| if i % 3 == 0 { Err(i) } else { Ok(i) })
        .collect();
    assert_eq!(out, want);
    assert_eq!(tracker.finished.load(SeqCst), 20, "nothing short-circuits");
    tracker.assert_all_dropped();
}

#[test]
fn settle_never_fires_the_token_on_an_error() {
    let mut group = TryGroup::<(), &str>::new();
    let token = group.token();
    let checked = Arc::new(AtomicBool::new(false));
    group.push(async { Err("early") });
    let c = checked.clone();
    group.push_with(move |token| async move {
        yield_times(3).await;
        assert!(
            !token.is_cancelled(),
            "a child error does not fire the token"
        );
        c.store(true, SeqCst);
        Ok(())
    });
    let settle = group.settle();
    assert_eq!(block_on(settle), vec![Err("early"), Ok(())]);
    assert!(checked.load(SeqCst));
    assert_eq!(token.reason(), Some(CancelReason::Finished));
}

#[test]
fn settle_on_an_outside_cancel_gives_each_unfinished_child_cancelled() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, TestError>::with_limit(3);
    let token = group.token();
    let handle = group.handle();
    group.push(tracker.track(0, async { Ok(0) }));
    group.push(tracker.track(1, async { Err(TestError::Child(1)) }));
    group.push(tracker.track(2, futures::future::pending())); // in flight
    {
        let handle = handle.clone();
        group.push(tracker.track(3, async move {
            yield_times(2).await;
            handle.cancel();
            Ok(3) // it finished: its own result stands
        }));
    }
    for i in 4..7 {
        group.push(tracker.track(i, futures::future::pending())); // queued
    }
    handle
        .push(tracker.track(7, futures::future::pending()))
        .unwrap();
    let out = block_on(group.settle());
    assert_eq!(out.len(), 8);
    assert_eq!(*out[0].as_ref().unwrap(), 0);
    assert_eq!(out[1].as_ref().unwrap_err().child(), Some(1));
    assert!(is_cancelled(&out[2], CancelReason::Cancelled));
    assert_eq!(*out[3].as_ref().unwrap(), 3);
    for r in &out[4..] {
        assert!(is_cancelled(r, CancelReason::Cancelled), "{r:?}");
    }
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
    tracker.assert_all_dropped();
}

#[test]
fn settle_cancelled_before_its_first_poll() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, TestError>::new();
    for i in 0..4 {
        group.push(tracker.track(i, async move { Ok(i) }));
    }
    group.handle().cancel();
    let out = block_on(group.settle());
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|r| is_cancelled(r, CancelReason::Cancelled)));
    assert_eq!(tracker.started(), 0);
}

#[test]
fn settle_with_a_trigger_and_a_parent() {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let mut group = TryGroup::<usize, TestError>::new().cancel_on(rx);
    group.push(async { Ok(0) });
    group.push(async move {
        yield_now().await;
        tx.send(()).unwrap();
        futures::future::pending().await
    });
    let out = block_on(group.settle());
    assert_eq!(*out[0].as_ref().unwrap(), 0);
    assert!(is_cancelled(&out[1], CancelReason::Trigger));

    let parent = TryGroup::<(), ()>::new();
    let parent_token = parent.token();
    let mut group = TryGroup::<usize, TestError>::new().with_parent(&parent_token);
    group.push(futures::future::pending());
    let mut settle = group.settle();
    assert!(poll_once(&mut settle).is_pending());
    block_on(parent).unwrap(); // the parent finishing fires its token
    let out = block_on(settle);
    assert!(is_cancelled(&out[0], CancelReason::Parent));
}

#[test]
fn settle_with_catch_panics_turns_a_panic_into_that_childs_error() {
    let mut group = TryGroup::<usize, TestError>::new().catch_panics();
    let token = group.token();
    group.push(async { Ok(0) });
    group.push(async {
        yield_now().await;
        panic!("settle boom")
    });
    group.push(async {
        yield_times(3).await;
        Ok(2)
    });
    let out = block_on(group.settle());
    assert_eq!(*out[0].as_ref().unwrap(), 0);
    let p = out[1].as_ref().unwrap_err().panicked().unwrap();
    assert_eq!((p.index(), p.message()), (1, Some("settle boom")));
    assert_eq!(*out[2].as_ref().unwrap(), 2, "siblings keep running");
    assert_eq!(token.reason(), Some(CancelReason::Finished));
}

#[test]
fn settle_without_catch_panics_unwinds() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, TestError>::new();
    let token = group.token();
    group.push(tracker.track(0, futures::future::pending()));
    group.push(async { panic!("unwind") });
    let mut settle = group.settle();
    let msg = catch_panic(|| block_on(&mut settle)).unwrap_err();
    assert_eq!(msg, "unwind");
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 1 }));
    assert_eq!(tracker.dropped(), 1);
    assert!(settle.is_terminated());
}

#[test]
fn settle_empty_resolves_at_once_and_is_fused() {
    let group = TryGroup::<u8, ()>::new();
    let token = group.token();
    let mut settle = group.settle();
    assert!(!settle.is_terminated());
    assert_eq!(poll_once(&mut settle), Poll::Ready(vec![]));
    assert!(settle.is_terminated());
    assert_eq!(token.reason(), Some(CancelReason::Finished));
    let msg = catch_panic(|| poll_once(&mut settle)).unwrap_err();
    assert!(
        msg.to_lowercase().contains("poll"),
        "clear message: {msg:?}"
    );
}

#[test]
fn settle_takes_handle_and_lazy_children_in_index_order() {
    let mut group = TryGroup::<usize, usize>::with_limit(2);
    let handle = group.handle();
    group.push(async { Ok(0) });
    handle.push(async { Err(2) }).unwrap();
    group.push(async { Ok(1) });
    group.feed((3..6).map(|i| async move { Ok(i) }));
    assert_eq!(
        block_on(group.settle()),
        vec![Ok(0), Ok(1), Err(2), Ok(3), Ok(4), Ok(5)]
    );
}

// ---- into_stream ---------------------------------------------------------

#[test]
fn stream_yields_in_completion_order() {
    let mut group = TryGroup::<usize, ()>::new();
    for i in 0..5 {
        group.push(async move {
            yield_times(10 - 2 * i).await;
            Ok(i)
        });
    }
    let items: Vec<_> = block_on(group.into_stream().collect());
    assert_eq!(items, vec![Ok(4), Ok(3), Ok(2), Ok(1), Ok(0)]);
}

#[test]
fn stream_yields_the_first_error_after_the_rest_is_dropped_then_ends() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, usize>::with_limit(3);
    let token = group.token();
    group.push(tracker.track(0, async { Ok(0) }));
    group.push(tracker.track(1, futures::future::pending()));
    group.push(tracker.track(2, async {
        yield_times(2).await;
        Err(2)
    }));
    for i in 3..6 {
        group.push(tracker.track(i, futures::future::pending()));
    }
    let mut stream = group.into_stream();
    assert_eq!(block_on(stream.next()), Some(Ok(0)));
    let err = block_on(stream.next());
    assert_eq!(err, Some(Err(2)));
    assert_eq!(
        tracker.dropped(),
        6,
        "the rest was dropped before the error"
    );
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 2 }));
    assert_eq!(block_on(stream.next()), None);
    assert!(stream.is_terminated());
    assert_eq!(block_on(stream.next()), None, "None for ever");
}

#[test]
fn stream_on_an_outside_cancel_yields_cancelled_last() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, TestError>::new();
    let handle = group.handle();
    group.push(tracker.track(0, async { Ok(0) }));
    group.push(tracker.track(1, futures::future::pending()));
    group.push(tracker.track(2, async move {
        yield_now().await;
        handle.cancel();
        futures::future::pending().await
    }));
    let mut stream = group.into_stream();
    assert_eq!(*block_on(stream.next()).unwrap().as_ref().unwrap(), 0);
    let last = block_on(stream.next()).unwrap();
    assert_eq!(
        last.as_ref().unwrap_err().cancelled(),
        Some(CancelReason::Cancelled)
    );
    assert_eq!(tracker.dropped(), 3);
    assert!(block_on(stream.next()).is_none());
}

#[test]
fn stream_of_an_empty_group_ends_at_once() {
    let group = TryGroup::<u8, ()>::new();
    let token = group.token();
    let mut stream = group.into_stream();
    assert_eq!(
        stream.poll_next_unpin(&mut futures_test::task::noop_context()),
        Poll::Ready(None)
    );
    assert_eq!(token.reason(), Some(CancelReason::Finished));
}

#[test]
fn stream_finishing_fires_finished_and_dropping_it_fires_dropped() {
    let mut group = TryGroup::<u8, ()>::with_limit(2);
    let token = group.token();
    let handle = group.handle();
    for i in 0..4 {
        group.push(async move { Ok(i) });
    }
    handle.push(async { Ok(9) }).unwrap();
    let mut items: Vec<_> = block_on(group.into_stream().collect::<Vec<_>>())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    items.sort_unstable();
    assert_eq!(items, vec![0, 1, 2, 3, 9]);
    assert_eq!(token.reason(), Some(CancelReason::Finished));

    let tracker = Tracker::new();
    let mut group = TryGroup::<u8, ()>::new();
    let token = group.token();
    group.push(tracker.track(0, async { Ok(1) }));
    group.push(tracker.track(1, futures::future::pending()));
    let mut stream = group.into_stream();
    assert_eq!(block_on(stream.next()), Some(Ok(1)));
    drop(stream);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));
    tracker.assert_all_dropped();
}

#[test]
fn stream_with_catch_panics_yields_the_panic_last() {
    let mut group = TryGroup::<u8, TestError>::new().catch_panics();
    group.push(async { Ok(1) });
    group.push(async {
        yield_now().await;
        panic!("stream boom")
    });
    group.push(futures::future::pending());
    let items: Vec<_> = block_on(group.into_stream().collect::<Vec<_>>());
    assert_eq!(items.len(), 2);
    assert_eq!(*items[0].as_ref().unwrap(), 1);
    let p = items[1].as_ref().unwrap_err().panicked().unwrap();
    assert_eq!(p.index(), 1);
}

#[test]
fn stream_under_drain_on_error_follows_its_documented_choice() {
    // SPEC rule 12 leaves this to the crate; its rustdoc says drained
    // children's Ok values are still yielded, and the first error comes last.
    let mut group = TryGroup::<u8, u8>::new().drain_on_error();
    group.push(async { Err(0) });
    group.push_with(|token| async move {
        token.cancelled().await;
        Ok(1)
    });
    let items: Vec<_> = block_on(group.into_stream().collect::<Vec<_>>());
    assert_eq!(items, vec![Ok(1), Err(0)]);
}

#[test]
fn dropping_a_settle_midway_drops_every_child_and_fires_dropped() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, usize>::with_limit(2);
    let token = group.token();
    group.push(tracker.track(0, async { Ok(0) }));
    for i in 1..5 {
        group.push(tracker.track(i, futures::future::pending()));
    }
    let mut settle = group.settle();
    assert!(poll_once(&mut settle).is_pending());
    assert!(!token.is_cancelled(), "settle runs on");
    drop(settle);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));
    tracker.assert_all_dropped();
}

#[test]
fn settle_output_agrees_with_the_token_under_a_racing_cancel() {
    let iterations = if cfg!(miri) { 5 } else { 300 };
    for iter in 0..iterations {
        let mut group = TryGroup::<usize, TestError>::new();
        let token = group.token();
        let handle = group.handle();
        for i in 0..3 {
            group.push(async move {
                yield_times((iter + i) % 4).await;
                Ok(i)
            });
        }
        let canceller = std::thread::spawn(move || handle.cancel());
        let out = block_on(group.settle());
        canceller.join().unwrap();
        assert_eq!(out.len(), 3);
        let cancelled = out
            .iter()
            .filter(|r| is_cancelled(r, CancelReason::Cancelled))
            .count();
        match token.reason() {
            Some(CancelReason::Finished) => assert_eq!(cancelled, 0),
            Some(CancelReason::Cancelled) => {
                assert!(out
                    .iter()
                    .all(|r| r.is_ok() || is_cancelled(r, CancelReason::Cancelled)))
            }
            other => panic!("unexpected reason {other:?}"),
        }
    }
}

#[test]
fn settle_with_drain_on_error_drains_on_an_outside_cancel() {
    // drain_on_error drains on outside cancels too: the in-flight child
    // finishes with its own result, the queued one gets Err(Cancelled).
    let mut group = TryGroup::<usize, TestError>::with_limit(1).drain_on_error();
    let handle = group.handle();
    group.push_with(move |token| async move {
        handle.cancel();
        token.cancelled().await;
        yield_now().await;
        Ok(5)
    });
    group.push(async { Ok(6) }); // queued
    let out = block_on(group.settle());
    assert_eq!(*out[0].as_ref().unwrap(), 5);
    assert!(is_cancelled(&out[1], CancelReason::Cancelled));
}

#[test]
fn stream_with_drain_on_error_yields_drained_values_then_cancelled() {
    let mut group = TryGroup::<usize, TestError>::new().drain_on_error();
    let handle = group.handle();
    group.push_with(move |token| async move {
        handle.cancel();
        token.cancelled().await;
        yield_now().await;
        Ok(5)
    });
    let items: Vec<_> = block_on(group.into_stream().collect::<Vec<_>>());
    assert_eq!(items.len(), 2);
    assert_eq!(*items[0].as_ref().unwrap(), 5);
    assert!(is_cancelled(&items[1], CancelReason::Cancelled));
}
