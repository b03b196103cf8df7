//! Cancellation from outside (SPEC rules 4, 8, 12): `Handle::cancel`,
//! `cancel_on`, `with_parent`, `drain_on_error` and cutting a drain short,
//! and the agreement of the output with the token.
mod common;

use common::*;
use futures::executor::block_on;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use trygroup::{CancelReason, Cancelled, TryGroup};

#[test]
fn handle_cancel_from_a_child_drops_the_rest() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::with_limit(3);
    let token = group.token();
    let handle = group.handle();
    group.push(tracker.track(0, futures::future::pending()));
    group.push(tracker.track(1, async move {
        yield_now().await;
        handle.cancel();
        // Still returns Ok: the cancel came first and the output follows it.
        Ok(())
    }));
    for i in 2..6 {
        group.push(tracker.track(i, async { Ok(()) }));
    }
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
    assert_eq!(
        tracker.dropped(),
        tracker.created(),
        "dropped before return"
    );
}

#[test]
fn handle_cancel_from_another_thread() {
    let mut group = TryGroup::<(), Cancelled>::new();
    let handle = group.handle();
    group.push(futures::future::pending());
    let t = std::thread::spawn(move || handle.cancel());
    let err = block_on(group).unwrap_err();
    t.join().unwrap();
    assert_eq!(err.reason(), CancelReason::Cancelled);
    assert_eq!(
        err.to_string(),
        "the group was cancelled: cancelled through a handle"
    );
}

#[test]
fn handle_cancel_before_the_first_poll_starts_nothing() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::new();
    for i in 0..3 {
        group.push(tracker.track(i, async { Ok(()) }));
    }
    group.handle().cancel();
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    assert_eq!(tracker.started(), 0, "no child is polled after the cancel");
    tracker.assert_all_dropped();
}

#[test]
fn handle_cancel_on_an_empty_group_before_its_first_poll() {
    // Rule 3: an empty group resolves Ok "unless it was already cancelled".
    let mut group = TryGroup::<(), TestError>::new();
    let token = group.token();
    group.handle().cancel();
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
}

#[test]
fn handle_cancel_after_the_finish_changes_nothing() {
    let group = TryGroup::<u8, Cancelled>::from_iter([async { Ok(1) }]);
    let token = group.token();
    let handle = group.handle();
    assert_eq!(block_on(group), Ok(vec![1]));
    handle.cancel();
    assert_eq!(token.reason(), Some(CancelReason::Finished));
}

#[test]
fn handle_cancel_after_an_error_keeps_the_error() {
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let token = group.token();
    let handle = group.handle();
    group.push(async { Err(TestError::Child(0)) });
    group.push_with(move |token| async move {
        token.cancelled().await;
        handle.cancel(); // too late to change the reason
        Ok(())
    });
    assert_eq!(block_on(group).unwrap_err().child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
}

#[test]
fn cancel_with_anyhow_errors() {
    let mut group = TryGroup::<(), anyhow::Error>::new();
    group.push(futures::future::pending());
    group.handle().cancel();
    let err = block_on(group).unwrap_err();
    assert_eq!(
        err.downcast::<Cancelled>().unwrap().reason(),
        CancelReason::Cancelled
    );
}

#[test]
fn cancel_on_trigger_cancels_the_group() {
    let tracker = Tracker::new();
    let (tx, rx) = futures::channel::oneshot::channel::<u32>();
    let mut group = TryGroup::<(), TestError>::new().cancel_on(rx);
    let token = group.token();
    for i in 0..3 {
        group.push(tracker.track(i, futures::future::pending()));
    }
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(5));
        tx.send(9).unwrap();
    });
    let err = block_on(&mut group).unwrap_err();
    stopper.join().unwrap();
    assert_eq!(err.cancelled(), Some(CancelReason::Trigger));
    assert_eq!(token.reason(), Some(CancelReason::Trigger));
    assert_eq!(tracker.dropped(), 3);
}

#[test]
fn cancel_on_trigger_output_is_ignored_and_it_is_dropped_after_the_finish() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(dropped.clone());
    let trigger = async move {
        let _guard = guard;
        futures::future::pending::<String>().await
    };
    let mut group = TryGroup::<u8, Cancelled>::new().cancel_on(trigger);
    group.push(async {
        yield_now().await;
        Ok(5)
    });
    assert_eq!(block_on(&mut group), Ok(vec![5]));
    assert_eq!(
        dropped.load(SeqCst),
        1,
        "the trigger is dropped with the group's end"
    );
}

#[test]
fn a_child_error_before_the_trigger_wins() {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let mut group = TryGroup::<(), TestError>::new().cancel_on(rx);
    let token = group.token();
    group.push(async move {
        yield_now().await;
        tx.send(()).unwrap(); // completes the trigger, but the error comes first
        Err(TestError::Child(0))
    });
    group.push(futures::future::pending());
    assert_eq!(block_on(group).unwrap_err().child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
}

#[test]
fn with_parent_cancels_when_the_parent_fails() {
    let mut parent = TryGroup::<(), TestError>::new();
    let parent_token = parent.token();
    let tracker = Tracker::new();
    let mut child = TryGroup::<(), TestError>::new().with_parent(&parent_token);
    let child_token = child.token();
    for i in 0..3 {
        child.push(tracker.track(i, futures::future::pending()));
    }
    parent.push(async {
        yield_times(3).await;
        Err(TestError::Child(99))
    });
    let (p, c) = block_on(async { futures::join!(parent, child) });
    assert_eq!(p.unwrap_err().child(), Some(99));
    assert_eq!(c.unwrap_err().cancelled(), Some(CancelReason::Parent));
    assert_eq!(child_token.reason(), Some(CancelReason::Parent));
    tracker.assert_all_dropped();
}

#[test]
fn with_parent_cancels_when_the_parent_merely_finishes() {
    // The Go pitfall: the group's context is cancelled when Wait returns.
    let parent = TryGroup::<u8, Cancelled>::from_iter([async { Ok(1) }]);
    let parent_token = parent.token();
    let mut child = TryGroup::<(), Cancelled>::new().with_parent(&parent_token);
    child.push(futures::future::pending());
    let (p, c) = block_on(async { futures::join!(parent, child) });
    assert_eq!(p, Ok(vec![1]));
    assert_eq!(c.unwrap_err().reason(), CancelReason::Parent);
}

#[test]
fn with_parent_that_already_fired_cancels_at_once() {
    let parent = TryGroup::<(), Cancelled>::new();
    let parent_token = parent.token();
    block_on(parent).unwrap();
    let tracker = Tracker::new();
    let mut child = TryGroup::<(), TestError>::new().with_parent(&parent_token);
    assert_eq!(child.token().reason(), Some(CancelReason::Parent));
    child.push(tracker.track(0, async { Ok(()) }));
    let err = block_on(child).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Parent));
    assert_eq!(tracker.started(), 0);
    tracker.assert_all_dropped();
}

#[test]
fn with_parent_fires_when_the_parent_is_dropped() {
    let parent = TryGroup::<(), Cancelled>::new();
    let parent_token = parent.token();
    let mut child = TryGroup::<(), Cancelled>::new().with_parent(&parent_token);
    child.push(futures::future::pending());
    assert!(poll_once(&mut child).is_pending());
    drop(parent);
    assert_eq!(parent_token.reason(), Some(CancelReason::Dropped));
    assert_eq!(block_on(child).unwrap_err().reason(), CancelReason::Parent);
}

#[test]
fn drain_on_error_polls_in_flight_children_to_their_end() {
    // Regression: the core refilled the freed slot as soon as
    // FuturesUnordered yielded a finished child, before the frontend saw that
    // it was an `Err`, so under drain_on_error a queued child (index 4) was
    // started and polled during the drain (fixed in 2c0a475).
    let tracker = Tracker::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut group = TryGroup::<u8, TestError>::with_limit(4).drain_on_error();
    let token = group.token();
    for i in 0..3 {
        let f = finished.clone();
        let t = tracker.clone();
        group.push_with(move |token| {
            t.track(i, async move {
                let r = token
                    .run_until_cancelled(futures::future::pending::<()>())
                    .await;
                assert_eq!(r, None, "cancelled, not completed");
                f.fetch_add(1, SeqCst);
                Ok(0)
            })
        });
    }
    group.push(tracker.track(3, async {
        yield_now().await;
        Err(TestError::Child(3))
    }));
    for i in 4..8 {
        group.push(tracker.track(i, async { Ok(1) })); // queued: never start
    }
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.child(), Some(3));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 3 }));
    assert_eq!(finished.load(SeqCst), 3, "every in-flight sibling finished");
    assert_eq!(tracker.started(), 4);
    tracker.assert_all_dropped();
}

#[test]
fn drain_on_error_drops_later_errors_and_keeps_the_first() {
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let token = group.token();
    group.push(async { Err(TestError::Child(0)) });
    for i in 1..4 {
        group.push_with(move |token| async move {
            token.cancelled().await;
            Err(TestError::Child(i))
        });
    }
    assert_eq!(block_on(group).unwrap_err().child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
}

#[test]
fn drain_on_error_drains_on_an_outside_cancel_too() {
    let drained = Arc::new(AtomicUsize::new(0));
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let handle = group.handle();
    for _ in 0..3 {
        let d = drained.clone();
        group.push_with(move |token| async move {
            token.cancelled().await;
            yield_now().await;
            d.fetch_add(1, SeqCst);
            Ok(())
        });
    }
    group.push(async move {
        handle.cancel();
        Ok(())
    });
    let err = block_on(group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    assert_eq!(drained.load(SeqCst), 3);
}

#[test]
fn an_outside_cancel_during_a_drain_cuts_it_short() {
    // The grace-period pattern of rule 12: a child awaits the token, waits
    // out its grace period, then calls Handle::cancel; the stuck sibling is
    // dropped at once and the output stays the first reason.
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let token = group.token();
    let handle = group.handle();
    group.push(tracker.track(0, async {
        yield_now().await;
        Err(TestError::Child(0))
    }));
    group.push(tracker.track(1, futures::future::pending())); // ignores the token
    group.push(tracker.track(2, {
        let token = group.token();
        async move {
            token.cancelled().await;
            yield_times(5).await; // the grace period
            handle.cancel();
            Ok(())
        }
    }));
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
    assert_eq!(tracker.dropped(), 3, "the stuck child was dropped");
}

#[test]
fn a_trigger_during_a_drain_cuts_it_short() {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::new()
        .drain_on_error()
        .cancel_on(rx);
    let token = group.token();
    group.push(tracker.track(0, async { Err(TestError::Child(0)) }));
    group.push(tracker.track(1, futures::future::pending()));
    assert!(poll_once(&mut group).is_pending(), "draining child 1");
    assert_eq!(tracker.dropped(), 1);
    tx.send(()).unwrap();
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
    tracker.assert_all_dropped();
}

#[test]
fn an_outside_drain_cut_short_by_a_second_cancel() {
    // drain_on_error drains after an outside cancel; a second outside cancel
    // during that drain cuts it short, and the output stays `Cancelled`.
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let handle = group.handle();
    group.push(tracker.track(0, futures::future::pending()));
    handle.cancel();
    assert!(poll_once(&mut group).is_pending(), "draining child 0");
    assert_eq!(tracker.dropped(), 0);
    handle.cancel();
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    tracker.assert_all_dropped();
}

#[test]
fn a_parent_firing_during_a_drain_cuts_it_short() {
    let parent = TryGroup::<(), Cancelled>::new();
    let parent_token = parent.token();
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::new()
        .drain_on_error()
        .with_parent(&parent_token);
    group.push(tracker.track(0, async { Err(TestError::Child(0)) }));
    group.push(tracker.track(1, futures::future::pending()));
    assert!(poll_once(&mut group).is_pending());
    drop(parent);
    assert_eq!(block_on(&mut group).unwrap_err().child(), Some(0));
    tracker.assert_all_dropped();
}

#[test]
fn a_cancel_then_an_error_in_the_same_poll_gives_cancelled() {
    // Rule 8: whichever fired the token first wins, and the output agrees.
    let mut group = TryGroup::<(), TestError>::new();
    let token = group.token();
    let handle = group.handle();
    group.push(async move {
        handle.cancel();
        Err(TestError::Child(0))
    });
    let err = block_on(group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
}

#[test]
fn rule_8_output_and_token_agree_under_a_racing_cancel() {
    let iterations = if cfg!(miri) { 10 } else { 500 };
    let mut seen = [0usize; 3];
    for n in 0..iterations {
        let mut group = TryGroup::<usize, TestError>::new();
        let token = group.token();
        let handle = group.handle();
        let fail = n % 2 == 0;
        group.push(async move {
            yield_times(n % 7).await;
            if fail {
                Err(TestError::Child(0))
            } else {
                Ok(0)
            }
        });
        let canceller = std::thread::spawn(move || handle.cancel());
        let out = block_on(group);
        canceller.join().unwrap();
        match token.reason() {
            Some(CancelReason::Failed { index: 0 }) => {
                assert_eq!(out.unwrap_err().child(), Some(0));
                seen[0] += 1;
            }
            Some(CancelReason::Cancelled) => {
                assert_eq!(out.unwrap_err().cancelled(), Some(CancelReason::Cancelled));
                seen[1] += 1;
            }
            Some(CancelReason::Finished) => {
                assert!(!fail);
                assert_eq!(out.unwrap(), vec![0]);
                seen[2] += 1;
            }
            other => panic!("unexpected reason {other:?}"),
        }
    }
    assert_eq!(seen.iter().sum::<usize>(), iterations);
}

#[test]
fn a_cancelled_group_stops_taking_children() {
    // Rule 12 after an outside cancel, while a drain keeps the group alive.
    let tracker = Tracker::new();
    let gate = Gate::new();
    let mut group = TryGroup::<u8, TestError>::new().drain_on_error();
    let handle = group.handle();
    let g = gate.clone();
    group.push(async move {
        g.wait().await;
        Ok(0)
    });
    handle.cancel();
    assert!(poll_once(&mut group).is_pending());
    group.push(tracker.track(1, async { Ok(1) }));
    assert!(group.try_push(async { Ok(2) }).is_err());
    assert!(handle.push(async { Ok(3) }).is_err());
    gate.open();
    assert_eq!(
        block_on(&mut group).unwrap_err().cancelled(),
        Some(CancelReason::Cancelled)
    );
    assert_eq!(tracker.started(), 0);
    tracker.assert_all_dropped();
}

#[test]
fn a_child_that_cancels_its_own_group_sees_the_token_fire() {
    let saw = Arc::new(AtomicBool::new(false));
    let s = saw.clone();
    let mut group = TryGroup::<(), Cancelled>::new();
    let handle = group.handle();
    group.push(async move {
        handle.cancel();
        assert!(handle.token().is_cancelled());
        s.store(true, SeqCst);
        Ok(())
    });
    assert_eq!(
        block_on(group).unwrap_err().reason(),
        CancelReason::Cancelled
    );
    assert!(saw.load(SeqCst));
}

#[test]
fn an_empty_group_with_a_fired_parent_is_cancelled() {
    // Rule 3: "unless it was already cancelled".
    let parent = TryGroup::<(), ()>::new();
    let parent_token = parent.token();
    drop(parent);
    let mut group = TryGroup::<(), TestError>::new().with_parent(&parent_token);
    let err = poll_once(&mut group);
    match err {
        std::task::Poll::Ready(Err(e)) => assert_eq!(e.cancelled(), Some(CancelReason::Parent)),
        other => panic!("expected Err(Cancelled), got {other:?}"),
    }
}

#[test]
fn the_first_of_several_triggers_wins_and_all_are_dropped() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (tx1, rx1) = futures::channel::oneshot::channel::<()>();
    let (_tx2, rx2) = futures::channel::oneshot::channel::<()>();
    let g1 = DropCount(dropped.clone());
    let g2 = DropCount(dropped.clone());
    let mut group = TryGroup::<(), TestError>::new()
        .cancel_on(async move {
            let _g = g1;
            let _ = rx1.await;
        })
        .cancel_on(async move {
            let _g = g2;
            let _ = rx2.await;
        });
    group.push(futures::future::pending());
    assert!(poll_once(&mut group).is_pending());
    tx1.send(()).unwrap();
    let err = block_on(&mut group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Trigger));
    assert_eq!(
        dropped.load(SeqCst),
        2,
        "both triggers dropped when it ended"
    );
}

#[test]
fn parent_chains_propagate() {
    let mut grandparent = TryGroup::<(), TestError>::new();
    let gp_token = grandparent.token();
    let mut parent = TryGroup::<(), TestError>::new().with_parent(&gp_token);
    let p_token = parent.token();
    let mut child = TryGroup::<(), TestError>::new().with_parent(&p_token);
    let c_token = child.token();
    parent.push(futures::future::pending());
    child.push(futures::future::pending());
    grandparent.push(async {
        yield_times(2).await;
        Err(TestError::Child(7))
    });
    let (g, p, c) = block_on(async { futures::join!(grandparent, parent, child) });
    assert_eq!(g.unwrap_err().child(), Some(7));
    assert_eq!(p.unwrap_err().cancelled(), Some(CancelReason::Parent));
    assert_eq!(c.unwrap_err().cancelled(), Some(CancelReason::Parent));
    assert_eq!(gp_token.reason(), Some(CancelReason::Failed { index: 0 }));
    assert_eq!(p_token.reason(), Some(CancelReason::Parent));
    assert_eq!(c_token.reason(), Some(CancelReason::Parent));
}

#[test]
fn a_child_error_wins_over_a_parent_that_fires_later() {
    let parent = TryGroup::<(), ()>::new();
    let parent_token = parent.token();
    let mut group = TryGroup::<(), TestError>::new().with_parent(&parent_token);
    let token = group.token();
    group.push(async { Err(TestError::Child(0)) });
    assert_eq!(block_on(&mut group).unwrap_err().child(), Some(0));
    drop(parent);
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
}

#[test]
fn after_handle_cancel_try_push_and_handle_push_give_the_future_back() {
    // Bug found by this test: `Handle::cancel` only fires the token; the group
    // notices at its next poll, so until then `try_push` and `Handle::push`
    // accepted futures (later dropped unpolled) and `push` kept them.
    // Rule 12: once cancelled, try_push and Handle::push give the future
    // back, also before the group has been polled again.
    let mut problems = Vec::new();
    for polled_first in [false, true] {
        let tracker = Tracker::new();
        let mut group = TryGroup::<u8, TestError>::new();
        let handle = group.handle();
        group.push(tracker.track(0, futures::future::pending()));
        if polled_first {
            assert!(poll_once(&mut group).is_pending());
        }
        handle.cancel();
        if group.try_push(tracker.track(1, async { Ok(1) })).is_ok() {
            problems.push(format!("try_push accepted (polled first: {polled_first})"));
        }
        if handle.push(tracker.track(2, async { Ok(2) })).is_ok() {
            problems.push(format!(
                "Handle::push accepted (polled first: {polled_first})"
            ));
        }
        let before = tracker.dropped();
        group.push(tracker.track(3, async { Ok(3) }));
        if tracker.dropped() != before + 1 {
            problems.push(format!(
                "push not dropped at once (polled first: {polled_first})"
            ));
        }
        let err = block_on(&mut group).unwrap_err();
        assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
        assert_eq!(
            tracker.started(),
            usize::from(polled_first),
            "nothing new started"
        );
        drop(group);
        tracker.assert_all_dropped();
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn after_a_fired_parent_pushes_are_refused() {
    let parent = TryGroup::<(), ()>::new();
    let parent_token = parent.token();
    drop(parent);
    let mut group = TryGroup::<u8, TestError>::new().with_parent(&parent_token);
    let handle = group.handle();
    assert!(group.try_push(async { Ok(1) }).is_err());
    assert!(handle.push(async { Ok(2) }).is_err());
    assert!(handle.is_closed());
    let err = block_on(group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Parent));
}

#[test]
fn a_cancel_and_an_error_in_one_poll_follow_the_token() {
    // Rule 8: child A cancels from outside's API, child B fails, both in the
    // same poll. Whichever fired the token first wins, and the output agrees.
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut group = TryGroup::<(), TestError>::new();
    let token = group.token();
    let handle = group.handle();
    let o = order.clone();
    group.push(async move {
        yield_now().await;
        o.lock().unwrap().push('a');
        handle.cancel();
        futures::future::pending().await
    });
    let o = order.clone();
    group.push(async move {
        yield_now().await;
        o.lock().unwrap().push('b');
        Err(TestError::Child(1))
    });
    let out = block_on(group);
    let first = order.lock().unwrap()[0];
    match first {
        'a' => {
            assert_eq!(token.reason(), Some(CancelReason::Cancelled));
            assert_eq!(out.unwrap_err().cancelled(), Some(CancelReason::Cancelled));
        }
        _ => {
            assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
            assert_eq!(out.unwrap_err().child(), Some(1));
        }
    }
}

#[test]
fn an_error_during_an_outside_drain_does_not_replace_cancelled() {
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let token = group.token();
    let handle = group.handle();
    group.push_with(|token| async move {
        token.cancelled().await;
        Err(TestError::Child(0)) // after the cancel: dropped like a later error
    });
    handle.cancel();
    let err = block_on(group).unwrap_err();
    assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
}
