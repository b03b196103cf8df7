//! The token (SPEC "The token" and rule 8): fires exactly once with the first
//! reason; listeners made after the fire complete at once; `wait_blocking`;
//! `run_until_cancelled`; the reason always matches the output. Ports Go's
//! `TestCancelCause`.
mod common;

use common::*;
use futures::executor::block_on;
use futures_test::task::new_count_waker;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use trygroup::{CancelReason, Cancelled, TryGroup};

/// Go's `TestCancelCause`: the context's cause is the first error, or plain
/// cancellation (here `Finished`) when every child succeeded.
#[test]
fn go_cancel_cause() {
    let cases: Vec<(Vec<Option<&str>>, Option<usize>)> = vec![
        (vec![], None),
        (vec![None], None),
        (vec![Some("doomed")], Some(0)),
        (vec![Some("doomed"), None], Some(0)),
        (vec![None, Some("doomed")], Some(1)),
    ];
    for (errs, want) in cases {
        let mut group = TryGroup::new();
        let token = group.token();
        for err in &errs {
            let err = *err;
            assert!(group
                .try_push(async move { err.map_or(Ok(()), Err) })
                .is_ok());
        }
        let out = block_on(group);
        match want {
            None => {
                assert!(out.is_ok());
                assert_eq!(token.reason(), Some(CancelReason::Finished));
            }
            Some(index) => {
                assert_eq!(out, Err("doomed"));
                assert_eq!(token.reason(), Some(CancelReason::Failed { index }));
            }
        }
    }
}

#[test]
fn not_cancelled_until_the_group_ends() {
    let mut group = TryGroup::<(), ()>::new();
    let token = group.token();
    let clone = token.clone();
    group.push(async {
        yield_times(3).await;
        Ok(())
    });
    assert!(!token.is_cancelled());
    assert_eq!(token.reason(), None);
    assert!(poll_once(&mut group).is_pending());
    assert!(!token.is_cancelled(), "still running");
    assert_eq!(block_on(group), Ok(vec![()]));
    assert!(clone.is_cancelled(), "clones observe the same signal");
    assert_eq!(clone.reason(), Some(CancelReason::Finished));
}

#[test]
fn fires_exactly_once_with_the_first_reason() {
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let token = group.token();
    let handle = group.handle();
    let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = wakes.clone();
    group.push(async { Err(TestError::Child(0)) });
    group.push_with(move |token| async move {
        token.cancelled().await;
        w.fetch_add(1, SeqCst);
        handle.cancel(); // a second reason: ignored
        token.cancelled().await; // still fired: completes at once
        w.fetch_add(1, SeqCst);
        Ok(())
    });
    assert_eq!(block_on(group).unwrap_err().child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
    assert_eq!(wakes.load(SeqCst), 2);

    // Finished is not overwritten by anything that happens later.
    let group = TryGroup::<(), Cancelled>::new();
    let token = group.token();
    let handle = group.handle();
    block_on(group).unwrap();
    handle.cancel();
    assert_eq!(token.reason(), Some(CancelReason::Finished));

    // Cancelled is not overwritten by the drop.
    let mut group = TryGroup::<(), Cancelled>::new();
    let token = group.token();
    group.push(futures::future::pending());
    group.handle().cancel();
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));
}

#[test]
fn listeners_made_after_the_fire_complete_at_once() {
    let group = TryGroup::<(), ()>::new();
    let token = group.token();
    block_on(group).unwrap();
    for _ in 0..3 {
        let mut wait = token.cancelled();
        assert_eq!(poll_once(&mut wait), Poll::Ready(()));
    }
    let r = block_on(token.run_until_cancelled(futures::future::pending::<()>()));
    assert_eq!(r, None);
    token.wait_blocking(); // returns at once
}

#[test]
fn listeners_made_before_the_fire_are_woken() {
    let mut group = TryGroup::<(), Cancelled>::new();
    let token = group.token();
    group.push(futures::future::pending());
    let mut waits: Vec<_> = (0..10).map(|_| token.cancelled()).collect();
    let wakers: Vec<_> = (0..10).map(|_| new_count_waker()).collect();
    for (wait, (waker, _)) in waits.iter_mut().zip(&wakers) {
        assert_eq!(poll_with(wait, waker), Poll::Pending);
    }
    assert!(wakers.iter().all(|(_, count)| count.get() == 0));
    group.handle().cancel();
    for (wait, (waker, count)) in waits.iter_mut().zip(&wakers) {
        assert!(count.get() >= 1, "every listener is woken");
        assert_eq!(poll_with(wait, waker), Poll::Ready(()));
    }
    assert_eq!(
        block_on(group).unwrap_err().reason(),
        CancelReason::Cancelled
    );
}

#[test]
fn wait_blocking_from_plain_threads() {
    let mut group = TryGroup::<(), &str>::new();
    let token = group.token();
    let watchers: Vec<_> = (0..4)
        .map(|_| {
            let token = token.clone();
            std::thread::spawn(move || {
                token.wait_blocking();
                token.reason()
            })
        })
        .collect();
    group.push(async {
        // Give the watchers a chance to block first (ordering only).
        std::thread::sleep(std::time::Duration::from_millis(2));
        Err("stop")
    });
    assert_eq!(block_on(group), Err("stop"));
    for w in watchers {
        assert_eq!(w.join().unwrap(), Some(CancelReason::Failed { index: 0 }));
    }
}

#[test]
fn wait_blocking_returns_when_the_group_is_dropped() {
    let mut group = TryGroup::<(), ()>::new();
    group.push(futures::future::pending());
    let token = group.token();
    let watcher = std::thread::spawn(move || {
        token.wait_blocking();
        token.reason()
    });
    std::thread::sleep(std::time::Duration::from_millis(2));
    drop(group);
    assert_eq!(watcher.join().unwrap(), Some(CancelReason::Dropped));
}

#[test]
fn the_cancelled_future_is_static_and_send() {
    let mut group = TryGroup::<(), ()>::new();
    let wait = group.token().cancelled();
    let waiter = std::thread::spawn(move || block_on(wait));
    group.push(async { Ok(()) });
    block_on(group).unwrap();
    waiter.join().unwrap();
}

#[test]
fn run_until_cancelled_returns_the_value_if_it_finishes_first() {
    let mut group = TryGroup::<u8, ()>::new();
    group.push_with(|token| async move {
        let v = token
            .run_until_cancelled(async {
                yield_now().await;
                5
            })
            .await;
        assert_eq!(v, Some(5));
        Ok(v.unwrap())
    });
    assert_eq!(block_on(group), Ok(vec![5]));
}

#[test]
fn run_until_cancelled_gives_none_when_the_token_fires_first() {
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let d = dropped.clone();
    let mut group = TryGroup::<(), &str>::new().drain_on_error();
    group.push_with(move |token| async move {
        let guard = DropCount(d);
        let r = token
            .run_until_cancelled(async move {
                let _guard = guard;
                futures::future::pending::<u8>().await
            })
            .await;
        assert_eq!(r, None);
        Ok(())
    });
    group.push(async {
        yield_now().await;
        Err("x")
    });
    assert_eq!(block_on(group), Err("x"));
    assert_eq!(dropped.load(SeqCst), 1, "the inner future is dropped");

    // Already fired: None, even for a future that would be ready at once.
    let group = TryGroup::<(), ()>::new();
    let token = group.token();
    block_on(group).unwrap();
    assert_eq!(block_on(token.run_until_cancelled(async { 1 })), None);
}

#[test]
fn the_reason_always_matches_the_output() {
    // Finished -> Ok
    let mut group = TryGroup::<u8, TestError>::new();
    let token = group.token();
    group.push(async { Ok(1) });
    assert_eq!(block_on(group).unwrap(), vec![1]);
    assert_eq!(token.reason(), Some(CancelReason::Finished));

    // Failed -> that child's Err
    let mut group = TryGroup::<u8, TestError>::new();
    let token = group.token();
    group.push(async { Ok(1) });
    group.push(async { Err(TestError::Child(1)) });
    assert_eq!(block_on(group).unwrap_err().child(), Some(1));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));

    // Panicked (caught) -> Err(Panicked)
    let mut group = TryGroup::<u8, TestError>::new().catch_panics();
    let token = group.token();
    group.push(async { panic!("p") });
    let err = block_on(group).unwrap_err();
    assert_eq!(err.panicked().map(|p| p.index()), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 0 }));

    // Panicked (uncaught) -> the unwind
    let mut group = TryGroup::<u8, TestError>::new();
    let token = group.token();
    group.push(async { panic!("p") });
    assert!(catch_panic(|| block_on(group)).is_err());
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 0 }));

    // Cancelled / Trigger / Parent -> Err(Cancelled) with that reason
    let mut group = TryGroup::<u8, TestError>::new();
    let token = group.token();
    group.push(futures::future::pending());
    group.handle().cancel();
    assert_eq!(
        block_on(group).unwrap_err().cancelled(),
        Some(CancelReason::Cancelled)
    );
    assert_eq!(token.reason(), Some(CancelReason::Cancelled));

    let mut group = TryGroup::<u8, TestError>::new().cancel_on(async {});
    let token = group.token();
    group.push(futures::future::pending());
    assert_eq!(
        block_on(group).unwrap_err().cancelled(),
        Some(CancelReason::Trigger)
    );
    assert_eq!(token.reason(), Some(CancelReason::Trigger));

    let parent = TryGroup::<(), ()>::new();
    let parent_token = parent.token();
    drop(parent);
    let mut group = TryGroup::<u8, TestError>::new().with_parent(&parent_token);
    let token = group.token();
    group.push(futures::future::pending());
    assert_eq!(
        block_on(group).unwrap_err().cancelled(),
        Some(CancelReason::Parent)
    );
    assert_eq!(token.reason(), Some(CancelReason::Parent));
}

#[test]
fn dropped_fires_when_the_group_is_dropped_unfinished() {
    let group = TryGroup::<(), ()>::new();
    let token = group.token();
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));

    let mut group = TryGroup::<(), ()>::new();
    let token = group.token();
    group.push(futures::future::pending());
    assert!(poll_once(&mut group).is_pending());
    assert!(!token.is_cancelled());
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));

    // Dropping a finished group changes nothing.
    let mut group = TryGroup::<(), ()>::new();
    let token = group.token();
    assert!(poll_once(&mut group).is_ready());
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Finished));
}

#[test]
fn a_token_taken_mid_drain_already_carries_the_reason() {
    let mut group = TryGroup::<(), &str>::new().drain_on_error();
    group.push(async { Err("e") });
    group.push(async {
        yield_times(3).await;
        Ok(())
    });
    assert!(poll_once(&mut group).is_pending());
    let late = group.token();
    assert_eq!(late.reason(), Some(CancelReason::Failed { index: 0 }));
    assert_eq!(block_on(group), Err("e"));
}

#[test]
fn a_child_sees_the_token_fire_before_it_is_dropped() {
    // The token fires before siblings are dropped: a sibling's Drop can
    // already observe it.
    let saw = Arc::new(AtomicBool::new(false));
    struct Check(trygroup::CancelToken, Arc<AtomicBool>);
    impl Drop for Check {
        fn drop(&mut self) {
            self.1.store(self.0.is_cancelled(), SeqCst);
        }
    }
    let mut group = TryGroup::<(), &str>::new();
    let check = Check(group.token(), saw.clone());
    group.push(async move {
        let _check = check;
        futures::future::pending().await
    });
    group.push(async {
        yield_now().await;
        Err("go")
    });
    assert_eq!(block_on(group), Err("go"));
    assert!(saw.load(SeqCst));
}

#[test]
fn cancel_reason_is_copy_eq_debug() {
    let a = CancelReason::Failed { index: 3 };
    let b = a;
    assert_eq!(a, b);
    assert_ne!(a, CancelReason::Failed { index: 4 });
    assert_ne!(CancelReason::Finished, CancelReason::Dropped);
    assert!(format!("{a:?}").contains('3'));
}

#[test]
fn cancelled_is_copy_eq_error_and_displays_lowercase() {
    let mut group = TryGroup::<(), Cancelled>::new();
    group.push(futures::future::pending());
    group.handle().cancel();
    let err = block_on(group).unwrap_err();
    let copy = err;
    assert_eq!(copy, err);
    assert_eq!(err.reason(), CancelReason::Cancelled);
    let msg = err.to_string();
    assert!(msg.starts_with(|c: char| c.is_lowercase()) && !msg.ends_with('.'));
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(boxed.to_string(), msg);
}
