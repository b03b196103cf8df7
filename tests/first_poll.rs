//! First polls in the large set (more than four children): a child is first
//! polled outside the `FuturesUnordered`, and one that pends is polled again
//! there with the set's waker. These tests pin down what that must keep
//! true: no lost wake-ups, first polls in start order, drops exactly once,
//! and after one child waited for the outside world, the next start in the
//! set directly (until it is empty), so they are not polled twice.
mod common;

use common::*;
use futures_test::task::new_count_waker;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use trygroup::TryGroup;

/// Children in the larger tests (fewer under Miri, which is slow).
const BIG: usize = if cfg!(miri) { 120 } else { 1000 };

/// Waits for `gate`, counting its polls in `polls[i]`; then `Ok(i)`.
fn waiter(
    i: usize,
    gate: &Gate,
    polls: &Arc<Vec<AtomicUsize>>,
) -> impl Future<Output = Result<usize, ()>> + Send + Unpin + 'static {
    let (mut wait, polls) = (gate.wait(), polls.clone());
    std::future::poll_fn(move |cx| {
        polls[i].fetch_add(1, SeqCst);
        Pin::new(&mut wait).poll(cx).map(|()| Ok(i))
    })
}

/// Wakes itself and pends once (a yield).
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

fn polls_of(polls: &[AtomicUsize]) -> Vec<usize> {
    polls.iter().map(|p| p.load(SeqCst)).collect()
}

/// `n` children that wait for `gate`, pushed before the first poll.
fn waiting_group(
    n: usize,
    gate: &Gate,
    polls: &Arc<Vec<AtomicUsize>>,
) -> TryGroup<'static, usize, ()> {
    (0..n).map(|i| waiter(i, gate, polls)).collect()
}

#[test]
fn children_waiting_for_the_outside_world_are_woken_through_the_set() {
    let n = BIG;
    let (gate, polls) = (Gate::new(), counters(n));
    let mut group = waiting_group(n, &gate, &polls);
    let (waker, count) = new_count_waker();
    assert!(poll_with(&mut group, &waker).is_pending());
    assert!(
        polls_of(&polls).iter().all(|&p| p >= 1),
        "every child started"
    );
    // The gate wakes every waker it was given, the first poll's included: the
    // group must be woken through the set's wakers, and finish.
    let before = count.get();
    gate.open();
    assert!(count.get() > before, "opening the gate woke the group");
    let mut out = poll_with(&mut group, &waker);
    while out.is_pending() {
        out = poll_with(&mut group, &waker);
    }
    assert_eq!(out, Poll::Ready(Ok((0..n).collect())));
}

#[test]
fn after_one_child_waits_for_the_outside_world_the_next_start_in_the_set() {
    let n = BIG;
    let (gate, polls) = (Gate::new(), counters(n));
    let mut group = waiting_group(n, &gate, &polls);
    assert!(poll_once(&mut group).is_pending());
    // Child 0 is polled outside the set, registers the waker and pends; the
    // others go into the set unpolled, so each is polled once.
    let polls_now = polls_of(&polls);
    assert_eq!(polls_now[0], 2);
    assert!(polls_now[1..].iter().all(|&p| p == 1), "{polls_now:?}");
    gate.open();
    assert_eq!(
        futures::executor::block_on(group),
        Ok((0..n).collect::<Vec<_>>())
    );
}

#[test]
fn once_the_set_is_empty_first_polls_outside_it_are_back_on() {
    let n = 20;
    let (first, second, polls) = (Gate::new(), Gate::new(), counters(2 * n));
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let mut group = TryGroup::new();
    // The group stays open on the pending source while the set empties.
    group.feed_stream(rx);
    for i in 0..n {
        tx.unbounded_send(waiter(i, &first, &polls)).unwrap();
    }
    assert!(poll_once(&mut group).is_pending());
    let polls_now = polls_of(&polls);
    assert_eq!(polls_now[0], 2);
    assert!(polls_now[1..n].iter().all(|&p| p == 1), "{polls_now:?}");
    first.open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(group.in_flight(), 0, "the set is empty");
    for i in n..2 * n {
        tx.unbounded_send(waiter(i, &second, &polls)).unwrap();
    }
    assert!(poll_once(&mut group).is_pending());
    let polls_now = polls_of(&polls);
    assert_eq!(polls_now[n], 2, "first polled outside the set again");
    assert!(polls_now[n + 1..].iter().all(|&p| p == 1), "{polls_now:?}");
    second.open();
    drop(tx);
    assert_eq!(
        futures::executor::block_on(group),
        Ok((0..2 * n).collect::<Vec<_>>())
    );
}

#[test]
fn self_waking_children_stay_on_first_polls_outside_the_set() {
    // A child that wakes itself at its first poll (a yield) is ready at the
    // set's poll: that is the case first polls outside the set pay for. Every
    // such child is polled exactly twice, and the group needs no outside wake.
    let n = BIG / 3;
    let polls = counters(n);
    let mut group = TryGroup::new();
    for i in 0..n {
        let (polls, mut yielded) = (polls.clone(), false);
        group.push(std::future::poll_fn(move |cx| {
            polls[i].fetch_add(1, SeqCst);
            if std::mem::replace(&mut yielded, true) {
                Poll::Ready(Ok::<_, ()>(i))
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }));
    }
    assert_eq!(strict_block_on(group), Ok((0..n).collect::<Vec<_>>()));
    assert!(
        polls_of(&polls).iter().all(|&p| p == 2),
        "{:?}",
        polls_of(&polls)
    );
}

#[test]
fn first_polls_are_in_start_order_and_every_child_is_dropped_once() {
    let tracker = Tracker::new();
    let gate = Gate::new();
    let n = BIG / 2;
    let mut group = TryGroup::<usize, ()>::new();
    for i in 0..n {
        let gate = gate.clone();
        group.push(tracker.track(i, async move {
            match i % 3 {
                0 => Ok(i),
                1 => {
                    gate.wait().await;
                    Ok(i)
                }
                _ => {
                    yield_once().await;
                    Ok(i)
                }
            }
        }));
    }
    assert!(poll_once(&mut group).is_pending());
    // One poll does bounded work: a prefix of the children has started.
    let order = tracker.start_order();
    assert_eq!(order, (0..order.len()).collect::<Vec<_>>());
    gate.open();
    assert_eq!(strict_block_on(&mut group), Ok((0..n).collect::<Vec<_>>()));
    assert_eq!(tracker.start_order(), (0..n).collect::<Vec<_>>());
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn an_error_at_a_first_poll_outside_the_set_drops_every_child_once() {
    let tracker = Tracker::new();
    let gate = Gate::new();
    let n = BIG;
    let mut group = TryGroup::new();
    for i in 0..n {
        let gate = gate.clone();
        group.push(tracker.track(i, async move {
            if i == n / 2 {
                return Err(i);
            }
            gate.wait().await;
            Ok(i)
        }));
    }
    assert_eq!(poll_once(&mut group), Poll::Ready(Err(n / 2)));
    // Children after the failing one never started, and none is left alive.
    assert_eq!(tracker.started(), n / 2 + 1);
    tracker.assert_all_dropped();
}

#[test]
fn a_panicking_drop_at_a_first_poll_outside_the_set_still_drops_the_rest() {
    let drops = Arc::new(AtomicUsize::new(0));
    let n = 20;
    let mut group = TryGroup::<usize, ()>::new();
    for i in 0..n {
        let (guard, panics) = (
            DropCount(drops.clone()),
            (i == 7).then(|| PanicOnDrop("boom")),
        );
        group.push(async move {
            let _keep = (guard, panics);
            if i < 7 {
                yield_once().await;
            }
            Ok(i)
        });
    }
    let message = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert_eq!(message, "boom");
    drop(group);
    assert_eq!(drops.load(SeqCst), n, "every child dropped exactly once");
}
