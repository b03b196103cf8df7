//! The limit: never exceeded at any instant, queued children start FIFO,
//! `try_push` (Go's `TryGo`), `set_limit`, the shared semaphore, and the
//! counts. Ports Go's `TestGoLimit` and `TestTryGo`.
mod common;

use common::*;
use futures::executor::block_on;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use trygroup::TryGroup;

/// A child that checks the tracker's active gauge at every one of its polls.
fn checked(
    tracker: &Arc<Tracker>,
    label: usize,
    limit: usize,
    yields: usize,
) -> impl std::future::Future<Output = Result<usize, ()>> + Send + 'static {
    let t = tracker.clone();
    tracker.track(label, async move {
        for _ in 0..=yields {
            let active = t.active.load(SeqCst);
            assert!(active <= limit, "{active} children active, limit {limit}");
            yield_now().await;
        }
        Ok(label)
    })
}

/// Go's `TestGoLimit`: 1025 children under a limit of 10; the active count is
/// checked at every child poll.
#[test]
fn go_limit_1025_children_under_10() {
    const LIMIT: usize = 10;
    let n = if cfg!(miri) { 65 } else { 1025 };
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(LIMIT);
    for i in 0..n {
        group.push(checked(&tracker, i, LIMIT, i % 4));
    }
    assert_eq!(block_on(group), Ok((0..n).collect::<Vec<_>>()));
    assert!(tracker.max_active() <= LIMIT);
    assert_eq!(tracker.max_active(), LIMIT, "the limit is used in full");
    assert_eq!(tracker.started(), n);
    tracker.assert_all_dropped();
}

/// Go's `TestTryGo`, mapped: `try_push` succeeds while a slot is free, gives
/// the very same future back at the limit, and a freed slot can be reused.
#[test]
fn go_try_go() {
    const N: usize = 42;
    let tracker = Tracker::new();
    let gates: Vec<Gate> = (0..N + 1).map(|_| Gate::new()).collect();
    let mut group = TryGroup::with_limit(N);
    for (i, gate) in gates.iter().enumerate().take(N) {
        let g = gate.clone();
        let child = tracker.track(i, async move {
            g.wait().await;
            Ok::<_, ()>(i)
        });
        assert!(group.try_push(child).is_ok(), "try_push {i} must succeed");
    }
    // At the limit: the future comes back, and it is the one we passed.
    let back = group.try_push(async { Ok(1000) }).unwrap_err();
    assert_eq!(block_on(back), Ok(1000));
    assert_eq!(group.in_flight(), N);

    // Free one slot: the next try_push succeeds.
    gates[0].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(group.in_flight(), N - 1);
    let g = gates[N].clone();
    let late = tracker.track(N, async move {
        g.wait().await;
        Ok(N)
    });
    assert!(group.try_push(late).is_ok());
    assert!(group.try_push(async { Ok(1001) }).is_err());

    // Lower the limit: nothing running is cancelled; no new start.
    group.set_limit(Some(1));
    assert!(group.try_push(async { Ok(1002) }).is_err());
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(group.in_flight(), N);
    assert_eq!(tracker.dropped(), 1, "only the finished child was dropped");

    for gate in &gates {
        gate.open();
    }
    assert_eq!(block_on(&mut group), Ok((0..=N).collect::<Vec<_>>()));
    // Rule 12: try_push on a finished group gives the future back too.
    assert_eq!(
        block_on(group.try_push(async { Ok(7) }).unwrap_err()),
        Ok(7)
    );
    tracker.assert_all_dropped();
}

#[test]
fn try_push_refuses_when_children_are_queued() {
    let mut group = TryGroup::with_limit(1);
    group.push(async { Ok::<_, ()>(0) });
    group.push(async { Ok(1) }); // queued
    assert_eq!(group.queued(), 1);
    assert!(group.try_push(async { Ok(2) }).is_err());
    assert_eq!(block_on(group), Ok(vec![0, 1]));
}

#[test]
fn try_push_on_an_unlimited_group_always_succeeds() {
    let mut group = TryGroup::new();
    for i in 0..100 {
        assert!(group.try_push(async move { Ok::<_, ()>(i) }).is_ok());
    }
    assert_eq!(block_on(group), Ok((0..100).collect::<Vec<_>>()));
}

#[test]
fn with_limit_zero_panics_with_a_message() {
    let msg = catch_panic(|| TryGroup::<(), ()>::with_limit(0)).unwrap_err();
    assert!(msg.contains('0'), "message should say why: {msg:?}");
    let mut group = TryGroup::<(), ()>::with_limit(3);
    let msg = catch_panic(move || group.set_limit(Some(0))).unwrap_err();
    assert!(msg.contains('0'), "message should say why: {msg:?}");
}

#[test]
fn queued_children_start_fifo_under_limit_one() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(1);
    for i in 0..20usize {
        group.push(checked(&tracker, i, 1, (7 * i) % 5));
    }
    assert_eq!(block_on(group), Ok((0..20).collect::<Vec<_>>()));
    assert_eq!(tracker.start_order(), (0..20).collect::<Vec<_>>());
    assert_eq!(tracker.max_active(), 1);
}

#[test]
fn queued_children_start_fifo_under_limit_three() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(3);
    for i in 0..60usize {
        group.push(checked(&tracker, i, 3, (7 * i) % 5));
    }
    assert_eq!(block_on(group), Ok((0..60).collect::<Vec<_>>()));
    let order = tracker.start_order();
    assert_eq!(order, (0..60).collect::<Vec<_>>(), "FIFO starts");
    assert!(tracker.max_active() <= 3);
}

#[test]
fn handle_pushes_queue_fifo_behind_direct_pushes() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(1);
    let handle = group.handle();
    group.push(checked(&tracker, 0, 1, 1));
    group.push(checked(&tracker, 1, 1, 0));
    handle.push(checked(&tracker, 2, 1, 2)).unwrap();
    let h = handle.clone();
    let t = tracker.clone();
    group.push(tracker.track(3, async move {
        // Pushed from inside a child: queued behind nothing else, starts next.
        h.push(checked(&t, 4, 1, 0)).unwrap();
        Ok(3)
    }));
    assert_eq!(block_on(group), Ok(vec![0, 1, 3, 2, 4]));
    // The handle push (label 2) is numbered at the first poll, after all
    // three direct pushes made before that poll (rule 11), and starts in
    // index order.
    assert_eq!(tracker.start_order(), vec![0, 1, 3, 2, 4]);
    assert_eq!(tracker.max_active(), 1);
}

#[test]
fn lowering_the_limit_never_cancels_and_delays_new_starts() {
    let tracker = Tracker::new();
    let gates: Vec<Gate> = (0..4).map(|_| Gate::new()).collect();
    let mut group = TryGroup::with_limit(4);
    for (i, gate) in gates.iter().enumerate() {
        let g = gate.clone();
        group.push(tracker.track(i, async move {
            g.wait().await;
            Ok::<_, ()>(i)
        }));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.started(), 4);

    group.set_limit(Some(1));
    for i in 4..8 {
        group.push(checked(&tracker, i, 1, 1));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.started(), 4, "no new start above the lower limit");
    assert_eq!(
        tracker.dropped(),
        0,
        "lowering never cancels a running child"
    );
    assert_eq!((group.in_flight(), group.queued()), (4, 4));

    gates[0].open();
    gates[1].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.started(), 4, "still 2 in flight, limit 1");
    for gate in &gates {
        gate.open();
    }
    assert_eq!(block_on(group), Ok((0..8).collect::<Vec<_>>()));
    tracker.assert_all_dropped();
}

#[test]
fn raising_the_limit_starts_queued_children_at_the_next_poll() {
    let tracker = Tracker::new();
    let gate = Gate::new();
    let mut group = TryGroup::with_limit(1);
    for i in 0..5 {
        let g = gate.clone();
        group.push(tracker.track(i, async move {
            g.wait().await;
            Ok::<_, ()>(i)
        }));
    }
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.started(), 1);
    group.set_limit(Some(3));
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.started(), 3);
    group.set_limit(None);
    assert_eq!(group.limit(), None);
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.started(), 5);
    gate.open();
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3, 4]));
}

#[test]
fn counts_report_in_flight_and_queued() {
    let mut group = TryGroup::<u8, ()>::with_limit(2);
    assert_eq!((group.len(), group.in_flight(), group.queued()), (0, 0, 0));
    assert!(group.is_empty());
    for i in 0..5 {
        group.push(async move { Ok(i) });
    }
    assert_eq!((group.len(), group.in_flight(), group.queued()), (5, 2, 3));
    // Handle pushes not yet taken in count as queued.
    let handle = group.handle();
    handle.push(async { Ok(9) }).unwrap();
    assert_eq!((group.len(), group.in_flight(), group.queued()), (6, 2, 4));
    // Lazy sources are not counted.
    group.feed((0..100).map(|i| async move { Ok(i) }));
    assert_eq!(group.len(), 6);
    let out = block_on(group).unwrap();
    assert_eq!(out.len(), 106);
    assert_eq!(&out[..6], &[0, 1, 2, 3, 4, 9]);
}

#[test]
fn limit_holds_across_direct_handle_and_lazy_children() {
    const LIMIT: usize = 5;
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(LIMIT);
    let handle = group.handle();
    for i in 0..20 {
        let h = handle.clone();
        let t = tracker.clone();
        group.push(tracker.track(i, async move {
            yield_times(i % 3).await;
            if i % 4 == 0 {
                h.push(checked(&t, 1000 + i, LIMIT, 2)).unwrap();
            }
            Ok(i)
        }));
    }
    let t = tracker.clone();
    group.feed((0..40).map(move |i| checked(&t, 2000 + i, LIMIT, i % 3)));
    let out = block_on(group).unwrap();
    assert_eq!(out.len(), 20 + 5 + 40);
    assert!(tracker.max_active() <= LIMIT);
    tracker.assert_all_dropped();
}

#[test]
fn a_shared_semaphore_caps_several_groups_together() {
    let cap = Arc::new(async_lock::Semaphore::new(3));
    let tracker = Tracker::new();
    let mut a = TryGroup::new().with_semaphore(cap.clone());
    let mut b = TryGroup::with_limit(2).with_semaphore(cap.clone());
    for i in 0..20 {
        a.push(checked(&tracker, i, 3, i % 3));
        b.push(checked(&tracker, 100 + i, 3, i % 2));
    }
    // Built but not awaited: no permit is held.
    {
        let held: Vec<_> = (0..3).map(|_| cap.try_acquire_arc()).collect();
        assert!(held.iter().all(Option::is_some), "no permit held yet");
    }
    let (ra, rb) = block_on(async { futures::join!(a, b) });
    assert_eq!(ra, Ok((0..20).collect::<Vec<_>>()));
    assert_eq!(rb, Ok((100..120).collect::<Vec<_>>()));
    assert!(tracker.max_active() <= 3);
    assert!(cap.try_acquire_arc().is_some());
    tracker.assert_all_dropped();
}

#[test]
fn semaphore_permits_come_back_when_the_group_is_dropped_mid_flight() {
    let cap = Arc::new(async_lock::Semaphore::new(2));
    let mut group = TryGroup::new().with_semaphore(cap.clone());
    for _ in 0..5 {
        group.push(futures::future::pending::<Result<(), ()>>());
    }
    assert!(poll_once(&mut group).is_pending());
    assert!(cap.try_acquire_arc().is_none(), "both permits held");
    drop(group);
    let held: Vec<_> = (0..2).map(|_| cap.try_acquire_arc()).collect();
    assert!(held.iter().all(Option::is_some));
}

#[test]
fn try_push_with_a_semaphore_needs_a_free_permit() {
    let cap = Arc::new(async_lock::Semaphore::new(1));
    let mut group = TryGroup::<u8, ()>::new().with_semaphore(cap.clone());
    let permit = cap.try_acquire_arc().unwrap();
    assert!(
        group.try_push(async { Ok(1) }).is_err(),
        "no permit: cannot start"
    );
    drop(permit);
    assert!(group.try_push(async { Ok(2) }).is_ok());
    assert_eq!(block_on(group), Ok(vec![2]));
}

#[test]
fn try_push_refuses_while_a_handle_push_waits_to_be_taken_in() {
    // A handle push not yet taken in counts as queued: a try_push would jump
    // the FIFO queue.
    let mut group = TryGroup::<u8, ()>::with_limit(2);
    group.push(futures::future::pending());
    group.handle().push(async { Ok(1) }).unwrap();
    assert_eq!(group.queued(), 1);
    assert!(group.try_push(async { Ok(2) }).is_err());
}

#[test]
fn semaphore_starts_are_fifo_too() {
    let cap = Arc::new(async_lock::Semaphore::new(1));
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(4).with_semaphore(cap);
    for i in 0..12usize {
        group.push(checked(&tracker, i, 1, i % 3));
    }
    assert_eq!(block_on(group), Ok((0..12).collect::<Vec<_>>()));
    assert_eq!(tracker.start_order(), (0..12).collect::<Vec<_>>());
    assert_eq!(tracker.max_active(), 1);
}

#[test]
fn a_semaphore_given_after_pushes_still_bounds_them() {
    // Children accepted before with_semaphore must take a permit as well.
    let cap = Arc::new(async_lock::Semaphore::new(2));
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    for i in 0..10usize {
        group.push(checked(&tracker, i, 2, 2));
    }
    let group = group.with_semaphore(cap);
    assert_eq!(block_on(group), Ok((0..10).collect::<Vec<_>>()));
    assert!(tracker.max_active() <= 2);
}

#[test]
fn a_refused_try_push_takes_no_index() {
    let mut group = TryGroup::<&str, ()>::with_limit(1);
    group.push(async { Ok("a") });
    assert!(group.try_push(async { Ok("refused") }).is_err());
    group.push(async { Ok("c") });
    assert_eq!(block_on(&mut group), Ok(vec!["a", "c"]));

    let mut group = TryGroup::<&str, ()>::new();
    group.push(async { Ok("a") });
    assert!(group.try_push(async { Ok("b") }).is_ok());
    group.push(async { Ok("c") });
    assert_eq!(block_on(group), Ok(vec!["a", "b", "c"]));
}
