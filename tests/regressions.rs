//! Regression tests for bugs found in the core, each explaining the bug.
mod common;

use common::*;
use trygroup::{CancelReason, TryGroup};

// Bug: when a child finished, the core refilled its slot from the queue
// *before* the frontend saw that this child's outcome was the first error.
// Under `drain_on_error` the child started that way was then drained as if it
// had been in flight, although nothing may start after the first error. The
// small (inline) set and the `FuturesUnordered` set both went through that
// path, so check both sizes.
#[test]
fn no_child_starts_after_the_first_error_small_and_large_sets() {
    for in_flight in [2usize, 4, 5, 40] {
        for drain in [false, true] {
            let tracker = Tracker::new();
            let mut group = TryGroup::<u8, TestError>::with_limit(in_flight);
            if drain {
                group = group.drain_on_error();
            }
            let token = group.token();
            for i in 0..in_flight - 1 {
                group.push_with(|token| {
                    tracker.track(i, async move {
                        token.cancelled().await;
                        Ok(0)
                    })
                });
            }
            let failing = in_flight - 1;
            group.push(tracker.track(failing, async move {
                yield_now().await;
                Err(TestError::Child(failing))
            }));
            for i in in_flight..in_flight + 5 {
                group.push(tracker.track(i, async { Ok(1) }));
            }
            let err = futures::executor::block_on(group).unwrap_err();
            assert_eq!(err.child(), Some(failing));
            assert_eq!(
                token.reason(),
                Some(CancelReason::Failed { index: failing })
            );
            assert_eq!(
                tracker.started(),
                in_flight,
                "limit {in_flight}, drain {drain}: a queued child started after the error"
            );
            tracker.assert_all_dropped();
        }
    }
}

// The inline set polls every child with the group's waker. A child started
// in the middle of a poll (a freed slot refilled from the queue) must be
// polled in that same poll, or it would wait for a wake nobody sends.
#[test]
fn a_child_started_mid_poll_in_the_inline_set_is_polled_at_once() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<usize, ()>::with_limit(2);
    for i in 0..6 {
        group.push(tracker.track(i, async move { Ok(i) }));
    }
    let (waker, wakes) = futures_test::task::new_count_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let out = std::pin::Pin::new(&mut group).poll(&mut cx);
    assert_eq!(out, std::task::Poll::Ready(Ok((0..6).collect())));
    assert_eq!(
        wakes.get(),
        0,
        "no wake needed: every start happened in one poll"
    );
    assert_eq!(tracker.start_order(), (0..6).collect::<Vec<_>>());
}

use std::future::Future;

// The strict executor must itself catch what it is for: a future that
// returns `Pending` without arranging a wake-up fails the test.
#[test]
fn the_strict_executor_fails_on_a_lost_wake_up() {
    let lost = std::panic::catch_unwind(|| {
        strict_block_on_within(
            std::future::poll_fn(|_| std::task::Poll::<()>::Pending),
            std::time::Duration::from_millis(50),
        )
    });
    assert!(lost.is_err(), "a never-woken pending future must fail");
    // And a group whose children wake it from another thread passes.
    let mut group = TryGroup::<u8, ()>::new();
    for i in 0..8u8 {
        group.push(async move {
            let (tx, rx) = futures::channel::oneshot::channel();
            std::thread::spawn(move || tx.send(i).unwrap());
            Ok(rx.await.unwrap())
        });
    }
    assert_eq!(strict_block_on(group), Ok((0..8).collect()));
}
