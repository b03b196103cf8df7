//! The core scenarios on every executor the crate supports (SPEC "Quality
//! bars"): `futures::executor::block_on`, `pollster`, smol, async-std, tokio
//! current-thread and multi-thread. Wake-ups come from children, other
//! threads and triggers, so an executor that only polls when woken proves
//! nothing is lost.
mod common;

use common::*;
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use trygroup::{CancelReason, TryGroup};

/// Opens `gate` from a plain thread after a short pause (ordering only).
fn open_later(gate: &Gate) -> std::thread::JoinHandle<()> {
    let gate = gate.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1));
        gate.open();
    })
}

#[test]
fn all_ok_under_a_limit() {
    on_every_executor(|| async {
        let tracker = Tracker::new();
        let mut group = TryGroup::with_limit(4);
        for i in 0..100usize {
            group.push(tracker.track(i, async move {
                yield_times(i % 5).await;
                Ok::<_, ()>(i)
            }));
        }
        assert_eq!(group.await, Ok((0..100).collect::<Vec<_>>()));
        assert!(tracker.max_active() <= 4);
        assert_eq!(tracker.start_order(), (0..100).collect::<Vec<_>>());
        tracker.assert_all_dropped();
    });
}

#[test]
fn first_error_cancels_the_rest() {
    on_every_executor(|| async {
        let tracker = Tracker::new();
        let mut group = TryGroup::with_limit(3);
        let token = group.token();
        group.push(tracker.track(0, futures::future::pending()));
        group.push(tracker.track(1, async {
            yield_times(3).await;
            Err("boom")
        }));
        for i in 2..10 {
            group.push(tracker.track(i, async move {
                yield_now().await;
                Ok(i)
            }));
        }
        assert_eq!(group.await, Err("boom"));
        assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
        tracker.assert_all_dropped();
    });
}

#[test]
fn children_woken_from_other_threads() {
    on_every_executor(|| async {
        let gates: Vec<Gate> = (0..8).map(|_| Gate::new()).collect();
        let mut group = TryGroup::with_limit(3);
        for (i, gate) in gates.iter().enumerate() {
            let wait = gate.wait();
            group.push(async move {
                wait.await;
                Ok::<_, ()>(i)
            });
        }
        let openers: Vec<_> = gates.iter().map(open_later).collect();
        assert_eq!(group.await, Ok((0..8).collect::<Vec<_>>()));
        for o in openers {
            o.join().unwrap();
        }
    });
}

#[test]
fn handle_pushes_from_a_child_and_from_a_thread() {
    on_every_executor(|| async {
        let mut group = TryGroup::new();
        let handle = group.handle();
        let gate = Gate::new();
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Ok::<_, ()>(0usize)
        });
        let h = handle.clone();
        group.push(async move {
            h.push(async { Ok(1) }).unwrap();
            Ok(2)
        });
        let g = gate.clone();
        let pusher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            for i in 3..10 {
                handle.push(async move { Ok(i) }).unwrap();
            }
            g.open();
        });
        let out = group.await.unwrap();
        pusher.join().unwrap();
        assert_eq!(out.len(), 10);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(&out[..2], &[0, 2], "direct pushes first");
    });
}

#[test]
fn cancel_from_a_thread_and_from_a_trigger() {
    on_every_executor(|| async {
        let mut group = TryGroup::<(), TestError>::new();
        let handle = group.handle();
        group.push(futures::future::pending());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            handle.cancel();
        });
        let err = group.await.unwrap_err();
        t.join().unwrap();
        assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));

        // A runtime-agnostic deadline: a thread completes the trigger.
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let mut group = TryGroup::<(), TestError>::new().cancel_on(rx);
        group.push(futures::future::pending());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            let _ = tx.send(());
        });
        let err = group.await.unwrap_err();
        t.join().unwrap();
        assert_eq!(err.cancelled(), Some(CancelReason::Trigger));
    });
}

#[test]
fn drain_on_error_and_with_parent() {
    on_every_executor(|| async {
        let drained = Arc::new(AtomicUsize::new(0));
        let mut parent = TryGroup::<(), TestError>::new().drain_on_error();
        let parent_token = parent.token();
        for _ in 0..3 {
            let d = drained.clone();
            parent.push_with(move |token| async move {
                token.cancelled().await;
                d.fetch_add(1, SeqCst);
                Ok(())
            });
        }
        parent.push(async {
            yield_times(2).await;
            Err(TestError::Child(3))
        });
        let mut child = TryGroup::<(), TestError>::new().with_parent(&parent_token);
        child.push(futures::future::pending());
        let (p, c) = futures::join!(parent, child);
        assert_eq!(p.unwrap_err().child(), Some(3));
        assert_eq!(c.unwrap_err().cancelled(), Some(CancelReason::Parent));
        assert_eq!(drained.load(SeqCst), 3);
    });
}

#[test]
fn lazy_feed_settle_stream_and_caught_panics() {
    on_every_executor(|| async {
        let tracker = Tracker::new();
        let mut group = TryGroup::<usize, ()>::with_limit(8);
        let t = tracker.clone();
        group.feed((0..500).map(move |i| {
            t.track(i, async move {
                yield_times(i % 3).await;
                Ok(i)
            })
        }));
        assert_eq!(group.await, Ok((0..500).collect::<Vec<_>>()));
        assert!(tracker.max_active() <= 8);
        tracker.assert_all_dropped();

        let mut group = TryGroup::<usize, usize>::new();
        for i in 0..6 {
            group.push(async move {
                yield_times(6 - i).await;
                if i % 2 == 0 {
                    Ok(i)
                } else {
                    Err(i)
                }
            });
        }
        let out = group.settle().await;
        assert_eq!(out, vec![Ok(0), Err(1), Ok(2), Err(3), Ok(4), Err(5)]);

        let mut group = TryGroup::<usize, ()>::new();
        for i in 0..4 {
            group.push(async move {
                yield_times(8 - 2 * i).await;
                Ok(i)
            });
        }
        let items: Vec<_> = group.into_stream().collect().await;
        assert_eq!(items, vec![Ok(3), Ok(2), Ok(1), Ok(0)]);

        let mut group = TryGroup::<(), TestError>::new().catch_panics();
        group.push(futures::future::pending());
        group.push(async {
            yield_now().await;
            panic!("caught on every executor")
        });
        let err = group.await.unwrap_err();
        assert_eq!(
            err.panicked().unwrap().message(),
            Some("caught on every executor")
        );
    });
}

#[test]
fn a_shared_semaphore_between_joined_groups() {
    on_every_executor(|| async {
        let cap = Arc::new(async_lock::Semaphore::new(2));
        let tracker = Tracker::new();
        let mut a = TryGroup::<usize, ()>::new().with_semaphore(cap.clone());
        let mut b = TryGroup::<usize, ()>::new().with_semaphore(cap.clone());
        for i in 0..10 {
            a.push(tracker.track(i, async move {
                yield_times(i % 3).await;
                Ok(i)
            }));
            b.push(tracker.track(10 + i, async move {
                yield_times(i % 2).await;
                Ok(i)
            }));
        }
        let (ra, rb) = futures::join!(a, b);
        assert_eq!(ra.unwrap().len(), 10);
        assert_eq!(rb.unwrap().len(), 10);
        assert!(tracker.max_active() <= 2);
    });
}

// Spawns on real runtimes whose reactors call `timerfd_create`, which Miri
// does not emulate; the same paths run under Miri with the other executors.
#[cfg(not(miri))]
#[test]
fn groups_as_spawned_tasks() {
    fn group() -> TryGroup<'static, usize, ()> {
        let mut group = TryGroup::with_limit(2);
        for i in 0..20 {
            group.push(async move {
                yield_times(i % 3).await;
                Ok(i)
            });
        }
        group
    }
    let want: Vec<usize> = (0..20).collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let joins: Vec<_> = (0..4).map(|_| rt.spawn(group())).collect();
    for j in joins {
        assert_eq!(rt.block_on(j).unwrap().unwrap(), want);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(rt.spawn(group())).unwrap().unwrap(), want);

    let ex = smol::Executor::new();
    let tasks: Vec<_> = (0..4).map(|_| ex.spawn(group())).collect();
    smol::block_on(ex.run(async {
        for t in tasks {
            assert_eq!(t.await.unwrap(), want);
        }
    }));

    async_std::task::block_on(async {
        let tasks: Vec<_> = (0..4).map(|_| async_std::task::spawn(group())).collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), want);
        }
    });
}

#[test]
fn empty_group_and_a_pending_trigger_on_every_executor() {
    // Rule 13: an empty group resolves at once even with a pending trigger.
    on_every_executor(|| async {
        let group = TryGroup::<(), TestError>::new().cancel_on(futures::future::pending::<()>());
        let token = group.token();
        assert!(group.await.unwrap().is_empty());
        assert_eq!(token.reason(), Some(CancelReason::Finished));
    });
}

#[test]
fn a_group_polled_on_one_thread_finishes_on_another() {
    let gate = Gate::new();
    let mut group = TryGroup::<usize, ()>::with_limit(2);
    for i in 0..6 {
        let wait = gate.wait();
        group.push(async move {
            wait.await;
            Ok(i)
        });
    }
    assert!(poll_once(&mut group).is_pending());
    let opener = open_later(&gate);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let out = rt.block_on(rt.spawn(group)).unwrap();
    opener.join().unwrap();
    assert_eq!(out, Ok((0..6).collect::<Vec<_>>()));
}
