//! Thread stress: many rounds of the races that cross threads.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};

use futures::channel::oneshot;
use futures::executor::block_on;
use trygroup::{CancelReason, Cancelled, Closed, Handle, TryGroup};

const ROUNDS: usize = if cfg!(miri) { 20 } else { 10_000 };

/// Children woken from another OS thread, 10k rounds: every group finishes
/// (no lost wake-up) with its values in push order.
#[test]
fn children_woken_from_os_threads() {
    let (tx, rx) = mpsc::channel::<oneshot::Sender<usize>>();
    let waker_thread = std::thread::spawn(move || {
        for (i, sender) in rx.into_iter().enumerate() {
            let _ = sender.send(i);
        }
    });
    for _ in 0..ROUNDS {
        let mut group = TryGroup::<usize, ()>::new();
        for k in 0..4 {
            let (s, r) = oneshot::channel();
            tx.send(s).unwrap();
            group.push(async move { r.await.map(|_| k).map_err(|_| ()) });
        }
        assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3]));
    }
    drop(tx);
    waker_thread.join().unwrap();
}

/// A handle push from another thread racing the group's finish, 10k rounds:
/// pushed == ran + given back, and what ran is in the output.
#[test]
fn handle_pushes_racing_the_finish() {
    type Reply = (bool, Option<usize>);
    let (tx, rx) = mpsc::channel::<(Handle<'static, usize, ()>, mpsc::Sender<Reply>)>();
    let ran = Arc::new(AtomicUsize::new(0));
    let pusher = {
        let ran = ran.clone();
        std::thread::spawn(move || {
            for (handle, reply) in rx {
                let ran = ran.clone();
                let child = async move {
                    ran.fetch_add(1, SeqCst);
                    Ok(7)
                };
                let answer = match handle.push(child) {
                    Ok(()) => (true, None),
                    // The future comes back intact: run it here to prove it.
                    Err(Closed(fut)) => (false, Some(block_on(fut).unwrap())),
                };
                reply.send(answer).unwrap();
            }
        })
    };
    let (mut accepted, mut back) = (0, 0);
    for round in 0..ROUNDS {
        let mut group = TryGroup::<usize, ()>::new();
        group.push(async move {
            common::yield_times(round % 3).await;
            Ok(0)
        });
        let (reply_tx, reply_rx) = mpsc::channel();
        tx.send((group.handle(), reply_tx)).unwrap();
        let out = block_on(group).unwrap();
        let (was_accepted, given_back) = reply_rx.recv().unwrap();
        if was_accepted {
            accepted += 1;
            assert_eq!(out, vec![0, 7], "an accepted push is in the output");
        } else {
            back += 1;
            assert_eq!(out, vec![0]);
            assert_eq!(given_back, Some(7));
        }
    }
    drop(tx);
    pusher.join().unwrap();
    // `ran` counts accepted children plus given-back futures run by the pusher.
    assert_eq!(accepted + back, ROUNDS);
    assert_eq!(ran.load(SeqCst), ROUNDS);
}

/// `Handle::cancel` from another thread while the group is pending on a
/// tokio multi-thread runtime: the group always ends with `Cancelled`.
#[cfg(not(miri))] // tokio's multi-thread runtime needs syscalls Miri lacks
#[test]
fn cancel_from_another_thread_under_tokio_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for _ in 0..ROUNDS / 10 {
        let mut group = TryGroup::<(), Cancelled>::new();
        for _ in 0..3 {
            group.push_with(|token| async move {
                token.cancelled().await;
                Ok(())
            });
        }
        let handle = group.handle();
        let task = rt.spawn(group);
        let canceller = std::thread::spawn(move || handle.cancel());
        let out = rt.block_on(task).unwrap();
        canceller.join().unwrap();
        assert_eq!(out.unwrap_err().reason(), CancelReason::Cancelled);
    }
}
