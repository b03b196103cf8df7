//! Handles (SPEC rules 6, 11, 12, 13 and the Handles section): pushes from a
//! child, another task and another OS thread; `Closed` gives the future back;
//! a push racing the finish runs or comes back, never both, never neither;
//! handles never keep a group alive nor leak children.
mod common;

use common::*;
use futures::executor::block_on;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use trygroup::{CancelReason, Closed, TryGroup};

#[test]
fn push_from_inside_a_child() {
    let mut group = TryGroup::new();
    let handle = group.handle();
    group.push(async move {
        for i in 1..=3 {
            handle.push(async move { Ok::<_, ()>(i * 10) }).unwrap();
        }
        yield_now().await;
        Ok(1)
    });
    group.push(async { Ok(2) });
    // Handle pushes are numbered after the direct pushes made before them.
    assert_eq!(block_on(group), Ok(vec![1, 2, 10, 20, 30]));
}

#[test]
fn children_pushed_by_children_pushed_by_handles() {
    // A tree: each child pushes two more until depth 4.
    // An `async fn` could not prove its own recursive future `Send`.
    #[allow(clippy::manual_async_fn)]
    fn node(
        handle: trygroup::Handle<'static, u32, ()>,
        depth: u32,
    ) -> impl std::future::Future<Output = Result<u32, ()>> + Send + 'static {
        async move {
            if depth < 4 {
                for _ in 0..2 {
                    handle.push(node(handle.clone(), depth + 1)).unwrap();
                }
            }
            yield_now().await;
            Ok(depth)
        }
    }
    let mut group = TryGroup::with_limit(3);
    group.push(node(group.handle(), 0));
    let out = block_on(group).unwrap();
    assert_eq!(out.len(), 31);
    assert_eq!(out.iter().filter(|&&d| d == 4).count(), 16);
}

#[test]
fn handle_push_order_is_numbered_when_taken_in() {
    // Rule 11: a handle push made between two direct pushes, before the first
    // poll, is numbered after both.
    let mut group = TryGroup::new();
    let handle = group.handle();
    group.push(async { Ok::<_, ()>("a") });
    handle.push(async { Ok("h") }).unwrap();
    group.push(async { Ok("b") });
    assert_eq!(block_on(group), Ok(vec!["a", "b", "h"]));
}

// Spawns on real runtimes whose reactors call `timerfd_create`, which Miri
// does not emulate; the same paths run under Miri with the other executors.
#[cfg(not(miri))]
#[test]
fn push_from_another_task() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut group = TryGroup::new();
        let handle = group.handle();
        let gate = Gate::new();
        let g = gate.clone();
        group.push(async move {
            g.wait().await;
            Ok::<_, ()>(0usize)
        });
        let pusher = tokio::spawn(async move {
            for i in 1..=100usize {
                handle.push(async move { Ok(i) }).unwrap();
                tokio::task::yield_now().await;
            }
            gate.open();
        });
        let out = group.await.unwrap();
        pusher.await.unwrap();
        assert_eq!(out, (0..=100).collect::<Vec<_>>());
    });

    // The same on smol, with the group and the pusher as separate tasks.
    smol::block_on(async {
        let mut group = TryGroup::<usize, ()>::new();
        let handle = group.handle();
        let gate = Gate::new();
        let g = gate.clone();
        group.push(async move {
            g.wait().await;
            Ok(0)
        });
        let group_task = smol::spawn(group);
        let pusher = smol::spawn(async move {
            for i in 1..=50usize {
                handle.push(async move { Ok(i) }).unwrap();
                smol::future::yield_now().await;
            }
            gate.open();
        });
        pusher.await;
        assert_eq!(group_task.await.unwrap(), (0..=50).collect::<Vec<_>>());
    });
}

#[test]
fn push_from_another_os_thread() {
    let mut group = TryGroup::new();
    let handle = group.handle();
    let gate = Gate::new();
    let g = gate.clone();
    group.push(async move {
        g.wait().await;
        Ok::<_, ()>(0usize)
    });
    let pusher = std::thread::spawn(move || {
        for i in 1..=200usize {
            handle.push(async move { Ok(i) }).unwrap();
            if i % 50 == 0 {
                std::thread::yield_now();
            }
        }
        gate.open();
    });
    let out = block_on(group).unwrap();
    pusher.join().unwrap();
    assert_eq!(out, (0..=200).collect::<Vec<_>>());
}

#[test]
fn closed_after_finish_gives_the_future_back() {
    struct NotDebug(u8);
    let group = TryGroup::<NotDebug, ()>::new();
    let handle = group.handle();
    assert!(!handle.is_closed());
    assert!(block_on(group).unwrap().is_empty());
    assert!(handle.is_closed());

    let closed = handle.push(async { Ok(NotDebug(7)) }).unwrap_err();
    // Closed<F>: Debug without F: Debug, and a lowercase Display (rule 15).
    assert!(!format!("{closed:?}").is_empty());
    let msg = closed.to_string();
    assert!(msg.starts_with(|c: char| c.is_lowercase()) && !msg.ends_with('.'));
    assert_eq!(block_on(closed.into_inner()).unwrap().0, 7);

    let Closed(fut) = handle.push(async { Ok(NotDebug(8)) }).unwrap_err();
    assert_eq!(block_on(fut).unwrap().0, 8);
    let back = handle
        .push_with(|token| async move {
            assert_eq!(token.reason(), Some(CancelReason::Finished));
            Ok(NotDebug(9))
        })
        .unwrap_err();
    assert_eq!(block_on(back.0).unwrap().0, 9);
}

#[test]
fn closed_after_a_failure_or_a_drop() {
    let mut group = TryGroup::<(), &str>::new();
    let handle = group.handle();
    group.push(async { Err("no") });
    assert_eq!(block_on(group), Err("no"));
    let back = handle.push(async { Ok(()) }).unwrap_err();
    assert_eq!(block_on(back.into_inner()), Ok(()));

    let group = TryGroup::<u8, ()>::new();
    let handle = group.handle();
    drop(group);
    assert!(handle.is_closed());
    let back = handle.push(async { Ok(4) }).unwrap_err();
    assert_eq!(block_on(back.into_inner()), Ok(4));
}

#[test]
fn a_handle_push_before_the_first_poll_runs() {
    // Rule 13: an "empty" group with a handle push waiting is not empty.
    let tracker = Tracker::new();
    let mut group = TryGroup::<u8, ()>::new();
    let handle = group.handle();
    handle.push(tracker.track(0, async { Ok(3) })).unwrap();
    assert_eq!(group.queued(), 1);
    assert_eq!(poll_once(&mut group), std::task::Poll::Ready(Ok(vec![3])));
    assert_eq!(tracker.started(), 1);
}

#[test]
fn handles_do_not_keep_the_group_alive() {
    let mut group = TryGroup::<u8, ()>::new();
    let handle = group.handle();
    let spare = handle.clone();
    group.push(async move {
        let _mine = handle; // a child holds one too
        yield_now().await;
        Ok(1)
    });
    assert_eq!(block_on(group), Ok(vec![1]));
    assert!(spare.is_closed());
}

#[test]
fn handle_token_is_the_groups_token_and_push_with_hands_it_over() {
    let mut group = TryGroup::<(), u8>::new();
    let handle = group.handle();
    let token = group.token();
    assert!(!handle.token().is_cancelled());
    handle
        .push_with(|t| async move {
            yield_now().await;
            assert!(!t.is_cancelled());
            Err(1)
        })
        .unwrap();
    group.push(futures::future::pending());
    assert_eq!(block_on(group), Err(1));
    // Index 1: the handle push is numbered after the direct push.
    assert_eq!(
        handle.token().reason(),
        Some(CancelReason::Failed { index: 1 })
    );
    assert_eq!(token.reason(), handle.token().reason());
}

/// Rule 6: a push racing the finish either runs to completion and is in the
/// output, or comes back: never both, never neither.
#[test]
fn a_push_racing_the_finish_runs_or_comes_back() {
    const PUSHES: usize = 20;
    let iterations = if cfg!(miri) { 5 } else { 400 };
    let (mut total_ran, mut total_back) = (0, 0);
    for iter in 0..iterations {
        let tracker = Tracker::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut group = TryGroup::<usize, ()>::new();
        let handle = group.handle();
        group.push(async move {
            yield_times(iter % 4).await;
            Ok(usize::MAX)
        });
        let barrier = Arc::new(Barrier::new(2));
        let pusher = {
            let (barrier, tracker, ran) = (barrier.clone(), tracker.clone(), ran.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut accepted = 0;
                let mut back = Vec::new();
                for k in 0..PUSHES {
                    let r = ran.clone();
                    let child = tracker.track(k, async move {
                        r.fetch_add(1, SeqCst);
                        Ok(k)
                    });
                    match handle.push(child) {
                        Ok(()) => {
                            assert!(back.is_empty(), "accepted after a Closed");
                            accepted += 1;
                        }
                        Err(Closed(fut)) => back.push(fut),
                    }
                }
                (accepted, back)
            })
        };
        barrier.wait();
        let out = block_on(group).unwrap();
        let (accepted, back) = pusher.join().unwrap();
        assert_eq!(accepted + back.len(), PUSHES);
        assert_eq!(ran.load(SeqCst), accepted, "every accepted push ran");
        assert_eq!(out[0], usize::MAX);
        assert_eq!(&out[1..], &(0..accepted).collect::<Vec<_>>()[..]);
        assert_eq!(
            tracker.started(),
            accepted,
            "given-back futures are unpolled"
        );
        // The given-back futures are intact.
        for (i, fut) in back.into_iter().enumerate() {
            assert_eq!(block_on(fut), Ok(accepted + i));
        }
        tracker.assert_all_dropped();
        total_ran += accepted;
        total_back += PUSHES - accepted;
    }
    assert_eq!(total_ran + total_back, iterations * PUSHES);
}

#[test]
fn a_child_holding_its_own_handle_does_not_leak() {
    // Awaited to the end.
    let marker = Arc::new(());
    let weak = Arc::downgrade(&marker);
    let mut group = TryGroup::<(), u8>::new();
    let handle = group.handle();
    group.push(async move {
        let _keep = (marker, handle);
        futures::future::pending().await
    });
    group.push(async { Err(1) });
    assert_eq!(block_on(group), Err(1));
    assert!(weak.upgrade().is_none(), "the pending child was freed");

    // Dropped mid-flight.
    let marker = Arc::new(());
    let weak = Arc::downgrade(&marker);
    let mut group = TryGroup::<(), u8>::new();
    let handle = group.handle();
    group.push(async move {
        let _keep = (marker, handle);
        futures::future::pending().await
    });
    assert!(poll_once(&mut group).is_pending());
    drop(group);
    assert!(weak.upgrade().is_none());

    // Sitting in the inbox (not taken in yet) when the group is dropped.
    let marker = Arc::new(());
    let weak = Arc::downgrade(&marker);
    let group = TryGroup::<(), u8>::new();
    let handle = group.handle();
    let h = handle.clone();
    handle
        .push(async move {
            let _keep = (marker, h);
            Ok(())
        })
        .unwrap();
    drop(handle);
    drop(group);
    assert!(weak.upgrade().is_none(), "the inbox was emptied on drop");

    // Pushed through its own handle, from inside a child, then the group fails.
    let marker = Arc::new(());
    let weak = Arc::downgrade(&marker);
    let mut group = TryGroup::<(), u8>::new();
    let handle = group.handle();
    group.push(async move {
        let h = handle.clone();
        handle
            .push(async move {
                let _keep = (marker, h);
                futures::future::pending().await
            })
            .unwrap();
        yield_now().await;
        Err(2)
    });
    assert_eq!(block_on(group), Err(2));
    assert!(weak.upgrade().is_none());
}

#[test]
fn handles_are_clone_and_push_into_the_same_group() {
    let group = TryGroup::<u8, ()>::new();
    let a = group.handle();
    let b = a.clone();
    let c = group.handle();
    a.push(async { Ok(1) }).unwrap();
    b.push(async { Ok(2) }).unwrap();
    c.push(async { Ok(3) }).unwrap();
    assert_eq!(group.queued(), 3);
    assert_eq!(block_on(group), Ok(vec![1, 2, 3]));
}

#[test]
fn a_push_racing_a_settle_runs_or_comes_back() {
    const PUSHES: usize = 10;
    let iterations = if cfg!(miri) { 5 } else { 200 };
    for iter in 0..iterations {
        let mut group = TryGroup::<usize, ()>::new();
        let handle = group.handle();
        group.push(async move {
            yield_times(iter % 3).await;
            Ok(usize::MAX)
        });
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let pusher = std::thread::spawn(move || {
            b.wait();
            let mut back = Vec::new();
            let mut accepted = 0;
            for k in 0..PUSHES {
                match handle.push(async move { Ok(k) }) {
                    Ok(()) => accepted += 1,
                    Err(closed) => back.push(closed.into_inner()),
                }
            }
            (accepted, back)
        });
        barrier.wait();
        let out = block_on(group.settle());
        let (accepted, back) = pusher.join().unwrap();
        assert_eq!(out.len(), 1 + accepted);
        assert!(out.iter().all(Result::is_ok));
        assert_eq!(accepted + back.len(), PUSHES);
    }
}
