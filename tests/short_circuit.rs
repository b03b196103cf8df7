//! The first error wins (SPEC rules 1, 2, 3, 12): push-order values, the first
//! error in poll order, siblings dropped before the group returns, nothing new
//! starts after a failure. Includes ports of Go's `TestZeroGroup` and
//! `TestWithContext`.
mod common;

use common::*;
use futures::executor::block_on;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use trygroup::{CancelReason, TryGroup};

/// Go's `TestZeroGroup`: a zero group returns nil, else the first error.
/// Child `i` yields `i` times, so "first" is well defined in poll order.
#[test]
fn go_zero_group() {
    let cases: Vec<Vec<Option<&str>>> = vec![
        vec![],
        vec![None],
        vec![Some("err1")],
        vec![Some("err1"), None],
        vec![Some("err1"), None, Some("err2")],
        vec![None, Some("err2"), Some("err1")],
    ];
    for case in cases {
        // Go calls Wait after every Go; here every prefix is its own group.
        for n in 0..=case.len() {
            let prefix = &case[..n];
            let mut group = TryGroup::new();
            for (i, err) in prefix.iter().enumerate() {
                let err = *err;
                group.push(async move {
                    yield_times(i).await;
                    match err {
                        Some(e) => Err(e),
                        None => Ok(i),
                    }
                });
            }
            let first = prefix.iter().flatten().next().copied();
            match block_on(group) {
                Ok(values) => {
                    assert_eq!(first, None, "case {prefix:?}");
                    assert_eq!(values, (0..n).collect::<Vec<_>>());
                }
                Err(e) => assert_eq!(Some(e), first, "case {prefix:?}"),
            }
        }
    }
}

/// Go's `TestWithContext`: the first error comes back and the context is
/// done afterwards in every case, including success.
#[test]
fn go_with_context() {
    let cases: Vec<Vec<Option<&str>>> = vec![
        vec![],
        vec![None],
        vec![Some("err1")],
        vec![Some("err1"), None],
        vec![Some("err1"), None, Some("err2")],
    ];
    for case in cases {
        let mut group = TryGroup::new();
        let token = group.token();
        for (i, err) in case.iter().enumerate() {
            let err = *err;
            group.push(async move {
                yield_times(i).await;
                err.map_or(Ok(()), Err)
            });
        }
        let first = case.iter().position(Option::is_some);
        let out = block_on(group);
        assert!(token.is_cancelled(), "the token fires when the group ends");
        match first {
            None => {
                assert_eq!(out, Ok(vec![(); case.len()]));
                assert_eq!(token.reason(), Some(CancelReason::Finished));
            }
            Some(index) => {
                assert_eq!(out, Err(case[index].unwrap()));
                assert_eq!(token.reason(), Some(CancelReason::Failed { index }));
            }
        }
    }
}

#[test]
fn values_come_back_in_push_order_whatever_the_completion_order() {
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    for i in 0..50usize {
        group.push(tracker.track(i, async move {
            yield_times(50 - i).await; // the last pushed finishes first
            Ok::<_, ()>(i * 3)
        }));
    }
    assert_eq!(
        block_on(group),
        Ok((0..50).map(|i| i * 3).collect::<Vec<_>>())
    );
    tracker.assert_all_dropped();
}

#[test]
fn from_iterator_and_extend_push_each_in_order() {
    let group: TryGroup<'_, usize, ()> = (0..5).map(|i| async move { Ok(i) }).collect();
    assert_eq!(group.len(), 5);
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3, 4]));

    let mut group = TryGroup::with_limit(2);
    group.extend((0..5).map(|i| async move { Ok::<_, ()>(i + 10) }));
    assert_eq!((group.in_flight(), group.queued()), (2, 3));
    assert_eq!(block_on(group), Ok(vec![10, 11, 12, 13, 14]));
}

#[test]
fn first_error_in_poll_order_wins_and_the_token_names_it() {
    let mut group = TryGroup::new();
    let token = group.token();
    group.push(async {
        yield_times(5).await;
        Err("late")
    });
    group.push(async {
        yield_times(1).await;
        Err("early")
    });
    group.push(async { Ok(()) });
    assert_eq!(block_on(group), Err("early"));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
}

#[test]
fn several_errors_in_one_poll_give_one_error_that_agrees_with_the_token() {
    for n in 1..20usize {
        let mut group = TryGroup::new();
        let token = group.token();
        for i in 0..n {
            group.push(async move { Err::<(), _>(i) });
        }
        let err = block_on(group).unwrap_err();
        assert!(err < n);
        assert_eq!(token.reason(), Some(CancelReason::Failed { index: err }));
    }
}

#[test]
fn siblings_in_flight_and_queued_are_dropped_before_the_group_returns() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(4);
    for i in 0..3 {
        group.push(tracker.track(i, futures::future::pending()));
    }
    group.push(tracker.track(3, async {
        yield_times(2).await;
        Err("boom")
    }));
    for i in 4..10 {
        group.push(tracker.track(i, async { Ok(()) }));
    }
    // Await by reference so the group itself is still alive afterwards.
    let out = block_on(&mut group);
    assert_eq!(out, Err("boom"));
    assert_eq!(tracker.started(), 4, "queued children never start");
    assert_eq!(
        tracker.dropped(),
        10,
        "all dropped before the group returned"
    );
    assert_eq!(group.len(), 0);
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn children_observe_the_token_when_a_sibling_fails() {
    // The token fires before siblings are dropped; a sibling polled after the
    // error would see it (with drain_on_error), and the token reason names
    // the failing child.
    let saw = Arc::new(AtomicUsize::new(0));
    let mut group = TryGroup::new().drain_on_error();
    for _ in 0..3 {
        let saw = saw.clone();
        group.push_with(move |token| async move {
            token.cancelled().await;
            assert_eq!(token.reason(), Some(CancelReason::Failed { index: 3 }));
            saw.fetch_add(1, SeqCst);
            Ok(())
        });
    }
    group.push(async { Err("x") });
    assert_eq!(block_on(group), Err("x"));
    assert_eq!(saw.load(SeqCst), 3);
}

#[test]
fn empty_group_resolves_at_its_first_poll() {
    let mut group = TryGroup::<u8, ()>::new();
    let token = group.token();
    assert!(group.is_empty());
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok(vec![])));
    assert_eq!(token.reason(), Some(CancelReason::Finished));
    let mut group = TryGroup::<u8, ()>::default();
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok(vec![])));
}

#[test]
fn after_a_failure_nothing_new_starts() {
    // Rule 12, observed while drain_on_error keeps the group alive.
    let tracker = Tracker::new();
    let gate = Gate::new();
    let mut group = TryGroup::new().drain_on_error();
    let handle = group.handle();
    let g = gate.clone();
    group.push(async move {
        g.wait().await;
        Ok(0u32)
    });
    group.push(async { Err("fail") });
    assert!(
        poll_once(&mut group).is_pending(),
        "draining the gated child"
    );
    assert!(group.token().is_cancelled());

    // push: dropped unpolled.
    group.push(tracker.track(10, async { Ok(1) }));
    assert_eq!(tracker.dropped(), 1);
    // try_push and Handle::push: given back.
    let back = group.try_push(async { Ok(2) }).unwrap_err();
    assert_eq!(block_on(back), Ok(2));
    let back = handle.push(async { Ok(3) }).unwrap_err().into_inner();
    assert_eq!(block_on(back), Ok(3));
    assert!(handle.is_closed());

    gate.open();
    assert_eq!(block_on(&mut group), Err("fail"));
    assert_eq!(tracker.started(), 0);
    tracker.assert_all_dropped();
}

#[test]
fn later_errors_are_dropped_with_their_children() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let mut group = TryGroup::new();
    group.push(async { Err::<(), _>(String::from("first")) });
    for _ in 0..5 {
        let guard = DropCount(dropped.clone());
        group.push(async move {
            let _guard = guard;
            yield_now().await;
            Err(String::from("later"))
        });
    }
    assert_eq!(block_on(group), Err(String::from("first")));
    assert_eq!(dropped.load(SeqCst), 5);
}

#[test]
fn errors_pass_through_untouched() {
    // The user's own E is not wrapped or converted.
    #[derive(Debug, PartialEq)]
    struct MyError {
        code: u16,
        detail: Vec<u8>,
    }
    let mut group = TryGroup::new();
    group.push(async { Ok::<_, MyError>(()) });
    group.push(async {
        Err(MyError {
            code: 503,
            detail: vec![1, 2, 3],
        })
    });
    assert_eq!(
        block_on(group),
        Err(MyError {
            code: 503,
            detail: vec![1, 2, 3]
        })
    );
}

#[test]
fn anyhow_errors_work() {
    let mut group: TryGroup<'_, u32, anyhow::Error> = TryGroup::new();
    group.push(async { Ok(1) });
    group.push(async { Err(anyhow::anyhow!("nope")) });
    assert_eq!(block_on(group).unwrap_err().to_string(), "nope");
}

#[test]
fn a_group_raced_by_reference_in_select_can_be_awaited_later() {
    // TryGroup: FusedFuture + Unpin, so `&mut group` works in select!; losing
    // a round loses nothing.
    let gate = Gate::new();
    let mut group = TryGroup::<usize, ()>::new();
    for i in 0..3 {
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Ok(i)
        });
    }
    let out = block_on(async {
        let mut rounds = 0;
        loop {
            futures::select_biased! {
                out = &mut group => break (out, rounds),
                _ = futures::FutureExt::fuse(yield_now()) => {
                    rounds += 1;
                    if rounds == 3 {
                        gate.open();
                    }
                }
            }
        }
    });
    assert_eq!(out.0, Ok(vec![0, 1, 2]));
    assert!(out.1 >= 3);
    assert!(futures::future::FusedFuture::is_terminated(&group));
}
