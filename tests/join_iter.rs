//! `try_join_iter` / `TryJoinIter`: same-typed children pulled lazily from an
//! iterator and polled in reused slots. Values in iterator order; every child
//! (and the iterator) dropped exactly once on every exit path; the limit; the
//! token's reasons; a bounded amount of work per poll; wakers that are
//! registered, yielded or never touched, on every executor; borrowed and
//! `!Send` children; completion, `FusedFuture`, `Debug`; auto traits; and a
//! proptest against a simple model.
mod common;

use common::*;
use futures::executor::block_on;
use futures::future::{FusedFuture, TryFuture};
use futures::FutureExt;
use futures_test::task::new_count_waker;
use proptest::prelude::*;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use trygroup::{try_join_iter, CancelReason, CancelToken, TryJoinIter};

/// The documented budget of one poll of the group: at most this many
/// children started, and this many polled again, before it wakes itself and
/// yields.
const BUDGET: usize = 256;

// ---- helpers --------------------------------------------------------------

/// `group`, with `with_limit(n)` if `limit` is `Some(n)`.
fn limited<I: Iterator>(group: TryJoinIter<I>, limit: Option<usize>) -> TryJoinIter<I>
where
    I::Item: TryFuture,
{
    match limit {
        Some(n) => group.with_limit(n),
        None => group,
    }
}

/// Wakers registered by waiting children, all woken by one `release`: a
/// stand-in for the outside world (I/O, a timer) or for a sibling that
/// signals the others.
#[derive(Default)]
struct Board {
    epoch: AtomicUsize,
    wakers: Mutex<Vec<Waker>>,
}

impl Board {
    fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Advances the epoch and wakes every registered waker; how many.
    fn release(&self) -> usize {
        self.epoch.fetch_add(1, SeqCst);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap());
        let n = wakers.len();
        for waker in wakers {
            waker.wake();
        }
        n
    }

    fn waiting(&self) -> usize {
        self.wakers.lock().unwrap().len()
    }

    /// Completes once `rounds` releases happened after its first poll;
    /// registers (a clone of) its waker at every pending poll.
    fn wait(self: &Arc<Self>, rounds: usize) -> impl Future<Output = ()> + Send + Unpin + 'static {
        let board = self.clone();
        let mut target = None;
        std::future::poll_fn(move |cx| {
            let target = *target.get_or_insert_with(|| board.epoch.load(SeqCst) + rounds);
            if board.epoch.load(SeqCst) >= target {
                return Poll::Ready(());
            }
            board.wakers.lock().unwrap().push(cx.waker().clone());
            if board.epoch.load(SeqCst) >= target {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// Polls `fut` to completion as a strict executor would, with a counting
/// waker: after a `Pending` poll that woke nothing, the executor would sleep,
/// so the test plays the outside world and releases `board` (on another
/// thread if `on_thread`) — which must wake the group, or a wake-up was lost.
/// `after` runs after every poll. Returns the output and the number of polls.
fn drive<F: Future + Unpin>(
    fut: &mut F,
    board: &Board,
    on_thread: bool,
    after: impl FnMut(&F),
) -> (F::Output, usize) {
    let (out, polls) = drive_or_stall(fut, board, on_thread, after);
    let out = out.unwrap_or_else(|| {
        panic!("poll {polls}: Pending, nothing woken and nobody waiting: it would hang")
    });
    (out, polls)
}

/// [`drive`], but returns `None` when the group is pending, woke nothing and
/// no child waits on `board`: nothing could ever wake it.
fn drive_or_stall<F: Future + Unpin>(
    fut: &mut F,
    board: &Board,
    on_thread: bool,
    mut after: impl FnMut(&F),
) -> (Option<F::Output>, usize) {
    let (waker, count) = new_count_waker();
    let mut polls = 0;
    loop {
        let before = count.get();
        let out = poll_with(fut, &waker);
        polls += 1;
        after(fut);
        if let Poll::Ready(out) = out {
            return (Some(out), polls);
        }
        assert!(polls < 1_000_000, "the group never finishes");
        if count.get() == before {
            if board.waiting() == 0 {
                return (None, polls);
            }
            if on_thread {
                std::thread::scope(|s| {
                    s.spawn(|| board.release());
                });
            } else {
                board.release();
            }
            assert!(
                count.get() > before,
                "poll {polls}: waking the waiting children did not wake the group (lost wake-up)"
            );
        }
    }
}

/// Runs `fut`; its own `Drop` panics with "drop boom" if `bomb`. The panic
/// happens when the group drops it: after it finished, or mid-flight.
struct Bomb<F> {
    fut: Pin<Box<F>>,
    bomb: bool,
}

impl<F> Bomb<F> {
    fn new(fut: F, bomb: bool) -> Self {
        Bomb {
            fut: Box::pin(fut),
            bomb,
        }
    }
}

impl<F: Future> Future for Bomb<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.fut.as_mut().poll(cx)
    }
}

impl<F> Drop for Bomb<F> {
    fn drop(&mut self) {
        if self.bomb && !std::thread::panicking() {
            panic!("drop boom");
        }
    }
}

/// Pending for ever without touching its waker; counts its polls.
fn pend_untouched(polls: Arc<AtomicUsize>) -> impl Future<Output = ()> + Send + 'static {
    std::future::poll_fn(move |_| {
        polls.fetch_add(1, SeqCst);
        Poll::Pending
    })
}

/// A child that waits for a oneshot sent by a thread it spawns at its first
/// poll (after a delay depending on `i`, to scatter completions).
async fn from_thread(i: usize) -> Result<usize, String> {
    let (tx, rx) = futures::channel::oneshot::channel();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_micros(((i * 7) % 5) as u64 * 300));
        let _ = tx.send(i * 10);
    });
    rx.await.map_err(|e| e.to_string())
}

// ---- 1. values in iterator order ------------------------------------------

#[test]
fn ready_children_come_back_in_iterator_order() {
    for limit in [None, Some(1), Some(3), Some(64)] {
        let tracker = Tracker::new();
        let t = tracker.clone();
        let group = limited(
            try_join_iter((0..100).map(move |i| t.track(i, async move { Ok::<_, ()>(i * 3) }))),
            limit,
        );
        assert_eq!(
            block_on(group),
            Ok((0..100).map(|i| i * 3).collect::<Vec<_>>()),
            "limit {limit:?}"
        );
        assert_eq!(tracker.created(), 100);
        assert_eq!(tracker.start_order(), (0..100).collect::<Vec<_>>());
        tracker.assert_all_dropped();
    }
    // Any IntoIterator: an array and a Vec of plain `Ready`s.
    let array = [1, 2, 3].map(|i| std::future::ready(Ok::<_, ()>(i)));
    assert_eq!(block_on(try_join_iter(array)), Ok(vec![1, 2, 3]));
    let v: Vec<_> = (0..10u8).map(futures::future::ok::<_, ()>).collect();
    assert_eq!(block_on(try_join_iter(v)), Ok((0..10).collect::<Vec<_>>()));
}

#[test]
fn yielding_children_come_back_in_iterator_order() {
    for limit in [None, Some(1), Some(2), Some(7)] {
        for yields in [1, 3] {
            let tracker = Tracker::new();
            let t = tracker.clone();
            // Child i yields `yields` times if i is even, else finishes at once,
            // so later children often finish before earlier ones.
            let group = limited(
                try_join_iter((0..50).map(move |i| {
                    t.track(i, async move {
                        if i % 2 == 0 {
                            yield_times(yields).await;
                        }
                        Ok::<_, ()>(i)
                    })
                })),
                limit,
            );
            assert_eq!(
                strict_block_on(group),
                Ok((0..50).collect::<Vec<_>>()),
                "limit {limit:?}, yields {yields}"
            );
            assert_eq!(tracker.start_order(), (0..50).collect::<Vec<_>>());
            tracker.assert_all_dropped();
        }
    }
}

#[test]
fn children_finishing_in_a_scattered_order_keep_iterator_order() {
    const N: usize = 32;
    // Opened by another thread in a permuted order once every child waits.
    let perm: Vec<usize> = (0..N).map(|i| (i * 13 + 5) % N).collect();
    for limit in [None, Some(8)] {
        let tracker = Tracker::new();
        let gates: Vec<Gate> = (0..N).map(|_| Gate::new()).collect();
        let finished = Arc::new(Mutex::new(Vec::new()));
        let (t, g, f) = (tracker.clone(), gates.clone(), finished.clone());
        let group = limited(
            try_join_iter((0..N).map(move |i| {
                let (wait, f) = (g[i].wait(), f.clone());
                t.track(i, async move {
                    wait.await;
                    f.lock().unwrap().push(i);
                    Ok::<_, ()>(i * 2)
                })
            })),
            limit,
        );
        let opener = {
            let (gates, perm, tracker) = (gates.clone(), perm.clone(), tracker.clone());
            let all_wait = limit.is_none();
            std::thread::spawn(move || {
                while all_wait && tracker.started() < N {
                    std::thread::sleep(Duration::from_micros(100));
                }
                for &i in &perm {
                    gates[i].open();
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        };
        let out = strict_block_on(group);
        opener.join().unwrap();
        assert_eq!(out, Ok((0..N).map(|i| i * 2).collect::<Vec<_>>()));
        let mut order = finished.lock().unwrap().clone();
        if limit.is_none() {
            assert_ne!(
                order,
                (0..N).collect::<Vec<_>>(),
                "the children did finish out of order"
            );
        }
        order.sort_unstable();
        assert_eq!(order, (0..N).collect::<Vec<_>>(), "each finished once");
        tracker.assert_all_dropped();
    }

    // The same with a sibling as the opener: the last child opens the others'
    // gates in a permuted order, yielding between each.
    let gates: Vec<Gate> = (0..N).map(|_| Gate::new()).collect();
    let finished = Rc::new(std::cell::RefCell::new(Vec::new()));
    let group = try_join_iter((0..=N).map(|i| {
        let (gates, perm, finished) = (&gates, &perm, finished.clone());
        async move {
            if i == N {
                for &j in perm {
                    gates[j].open();
                    yield_now().await;
                }
            } else {
                gates[i].wait().await;
                finished.borrow_mut().push(i);
            }
            Ok::<_, ()>(i)
        }
    }));
    assert_eq!(block_on(group), Ok((0..=N).collect::<Vec<_>>()));
    assert_eq!(
        *finished.borrow(),
        perm,
        "a sibling's wakes reach the woken children, in the order woken"
    );
}

// ---- 2. every child dropped exactly once ----------------------------------

#[test]
fn every_child_and_the_iterator_are_dropped_on_success() {
    for limit in [None, Some(1), Some(4)] {
        let tracker = Tracker::new();
        let iter_drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(iter_drops.clone());
        let t = tracker.clone();
        let mut group = limited(
            try_join_iter((0..40).map(move |i| {
                let _keep = &guard;
                t.track(i, async move {
                    yield_times(i % 3).await;
                    Ok::<_, ()>(i)
                })
            })),
            limit,
        );
        assert_eq!(block_on(&mut group), Ok((0..40).collect::<Vec<_>>()));
        assert_eq!(tracker.created(), 40);
        tracker.assert_all_dropped();
        assert_eq!(
            iter_drops.load(SeqCst),
            1,
            "an exhausted iterator is dropped"
        );
        drop(group);
        tracker.assert_all_dropped();
        assert_eq!(iter_drops.load(SeqCst), 1);
    }
}

#[test]
fn the_first_error_drops_every_child_and_the_iterator_before_it_returns() {
    // Children before FAIL wait to be released from outside; FAIL fails at its
    // first poll; the ones after it would pend for ever. Whatever the limit,
    // the iterator is pulled exactly up to FAIL, and everything (children and
    // iterator) is gone when the error comes back, before the group is dropped.
    const FAIL: usize = 9;
    for limit in [None, Some(1), Some(2), Some(3), Some(64)] {
        let tracker = Tracker::new();
        let board = Board::new();
        let iter_drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(iter_drops.clone());
        let (t, b) = (tracker.clone(), board.clone());
        let mut group = limited(
            try_join_iter((0..1000).map(move |i| {
                let _keep = &guard;
                let wait = b.wait(1);
                t.track(i, async move {
                    match i {
                        FAIL => Err(i),
                        i if i < FAIL => {
                            wait.await;
                            Ok(i)
                        }
                        _ => futures::future::pending().await,
                    }
                })
            })),
            limit,
        );
        let token = group.token();
        let (out, _) = drive(&mut group, &board, false, |_| {});
        assert_eq!(out, Err(FAIL), "limit {limit:?}");
        assert_eq!(token.reason(), Some(CancelReason::Failed { index: FAIL }));
        assert_eq!(
            tracker.created(),
            FAIL + 1,
            "limit {limit:?}: the iterator was pulled past the failing child"
        );
        assert_eq!(group.accepted(), FAIL + 1);
        assert_eq!(group.in_flight(), 0);
        tracker.assert_all_dropped();
        assert_eq!(
            iter_drops.load(SeqCst),
            1,
            "limit {limit:?}: the iterator must be dropped before the error is returned"
        );
        drop(group);
        tracker.assert_all_dropped();
        assert_eq!(iter_drops.load(SeqCst), 1, "dropped once");
    }
}

#[test]
fn an_error_while_siblings_are_in_flight_drops_them_first() {
    for limit in [None, Some(4)] {
        let tracker = Tracker::new();
        let board = Board::new();
        // Child 0 fails once released; 1..=3 register and wait, 4..=6 pend
        // untouched (only with no limit are they started).
        let untouched = Arc::new(AtomicUsize::new(0));
        let (t, b, u) = (tracker.clone(), board.clone(), untouched.clone());
        let mut group = limited(
            try_join_iter((0..7).map(move |i| {
                let (wait, pend) = (
                    b.wait(if i == 0 { 1 } else { 100 }),
                    pend_untouched(u.clone()),
                );
                t.track(i, async move {
                    match i {
                        0..=3 => {
                            wait.await;
                            if i == 0 {
                                Err(format!("child {i}"))
                            } else {
                                Ok(i)
                            }
                        }
                        _ => {
                            pend.await;
                            Ok(i)
                        }
                    }
                })
            })),
            limit,
        );
        let token = group.token();
        assert!(poll_once(&mut group).is_pending());
        assert_eq!(group.in_flight(), limit.unwrap_or(7));
        board.release();
        assert_eq!(
            poll_once(&mut group),
            Poll::Ready(Err("child 0".to_string()))
        );
        assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
        assert_eq!(tracker.created(), limit.unwrap_or(7));
        tracker.assert_all_dropped();
        assert!(group.is_terminated());
    }
}

#[test]
fn siblings_see_the_token_fired_when_they_are_dropped() {
    // The token fires first, then the others are dropped.
    struct Sees(
        Arc<OnceLock<CancelToken>>,
        Arc<Mutex<Vec<Option<CancelReason>>>>,
    );
    impl Drop for Sees {
        fn drop(&mut self) {
            let reason = self.0.get().and_then(CancelToken::reason);
            self.1.lock().unwrap().push(reason);
        }
    }
    let cell = Arc::new(OnceLock::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (cell.clone(), seen.clone());
    let group = try_join_iter((0..6).map(move |i| {
        let sees = Sees(c.clone(), s.clone());
        async move {
            let _sees = sees;
            if i == 4 {
                return Err("four");
            }
            futures::future::pending::<()>().await;
            Ok(i)
        }
    }));
    cell.set(group.token()).unwrap();
    assert_eq!(block_on(group), Err("four"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "children 0..=4 were made, child 5 never");
    // The failing child itself finished (and was dropped) first; each of the
    // four others saw the token fired with the right reason.
    let failed = Some(CancelReason::Failed { index: 4 });
    assert_eq!(seen.iter().filter(|&&r| r == failed).count(), 4, "{seen:?}");
}

#[test]
fn a_child_panic_drops_the_rest_then_resumes_the_original_payload() {
    // `when`: 0 = at the first poll, 1 = after yields, 2 = after a registered
    // wait (so it panics in a poll with its slot's waker).
    for when in 0..3 {
        for limit in [None, Some(2)] {
            let tracker = Tracker::new();
            let board = Board::new();
            let iter_drops = Arc::new(AtomicUsize::new(0));
            let guard = DropCount(iter_drops.clone());
            let (t, b) = (tracker.clone(), board.clone());
            let mut group = limited(
                try_join_iter((0..20).map(move |i| {
                    let _keep = &guard;
                    let wait = b.wait(1);
                    t.track(i, async move {
                        if i == 4 {
                            match when {
                                0 => {}
                                1 => yield_times(3).await,
                                _ => wait.await,
                            }
                            std::panic::panic_any(MyPayload(7));
                        }
                        if i < 4 {
                            yield_now().await;
                            Ok::<_, ()>(i)
                        } else {
                            futures::future::pending().await
                        }
                    })
                })),
                limit,
            );
            let token = group.token();
            let payload = unwind_of(|| drive(&mut group, &board, false, |_| {}));
            assert_eq!(
                payload.downcast_ref::<MyPayload>(),
                Some(&MyPayload(7)),
                "when {when}, limit {limit:?}: the original payload"
            );
            assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 4 }));
            // Gone before the unwind reached us, while the group still exists.
            tracker.assert_all_dropped();
            assert_eq!(iter_drops.load(SeqCst), 1, "the iterator too");
            assert!(group.is_terminated());
            assert_eq!(group.in_flight(), 0);
            let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
            assert!(msg.contains("polled after it completed"), "{msg}");
            drop(group);
            tracker.assert_all_dropped();
            assert_eq!(iter_drops.load(SeqCst), 1);
        }
    }
}

#[test]
fn a_child_panic_under_block_on_by_value() {
    let tracker = Tracker::new();
    let t = tracker.clone();
    let group = try_join_iter((0..10).map(move |i| {
        t.track(i, async move {
            yield_times(i).await;
            if i == 6 {
                panic!("child six");
            }
            Ok::<_, ()>(i)
        })
    }));
    let token = group.token();
    let payload = unwind_of(|| block_on(group));
    assert_eq!(panic_message(&*payload), "child six");
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 6 }));
    tracker.assert_all_dropped();
}

#[test]
fn a_panicking_drop_on_the_error_path_still_drops_everything_else() {
    for limit in [None, Some(4)] {
        let tracker = Tracker::new();
        let iter_drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(iter_drops.clone());
        let t = tracker.clone();
        // Children 0..=2 pend (1 and 2 with a panicking Drop); 3 fails after
        // two yields, so 0..=2 are in flight; with no limit, 4..10 pend too.
        let mut group = limited(
            try_join_iter((0..10).map(move |i| {
                let _keep = &guard;
                t.track(
                    i,
                    Bomb::new(
                        async move {
                            if i == 3 {
                                yield_times(2).await;
                                return Err::<(), _>(i);
                            }
                            futures::future::pending().await
                        },
                        i == 1 || i == 2,
                    ),
                )
            })),
            limit,
        );
        let token = group.token();
        let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
        assert_eq!(msg, "drop boom", "the Drop panic propagates");
        assert_eq!(token.reason(), Some(CancelReason::Failed { index: 3 }));
        tracker.assert_all_dropped();
        assert_eq!(iter_drops.load(SeqCst), 1);
        assert!(group.is_terminated());
        drop(group);
        tracker.assert_all_dropped();
    }
}

#[test]
fn a_panicking_drop_when_dropped_mid_flight_still_drops_everything_else() {
    let tracker = Tracker::new();
    let iter_drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(iter_drops.clone());
    let t = tracker.clone();
    let mut group = try_join_iter((0..12).map(move |i| {
        let _keep = &guard;
        t.track(
            i,
            Bomb::new(
                async move {
                    yield_times(i % 2).await;
                    futures::future::pending::<Result<usize, ()>>().await
                },
                i == 0 || i == 5,
            ),
        )
    }))
    .with_limit(8);
    let token = group.token();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(tracker.created(), 8);
    let msg = catch_panic(move || drop(group)).unwrap_err();
    assert_eq!(msg, "drop boom");
    assert_eq!(token.reason(), Some(CancelReason::Dropped));
    tracker.assert_all_dropped();
    assert_eq!(iter_drops.load(SeqCst), 1);
}

#[test]
fn a_panicking_drop_of_a_finished_child_drops_the_rest_and_its_value_once() {
    // The child finishes with a value whose drop is counted, then its own Drop
    // panics as the group drops it: the poll unwinds with that panic, the
    // value is dropped exactly once, and every other child once.
    for limit in [None, Some(2)] {
        let tracker = Tracker::new();
        let values = Arc::new(AtomicUsize::new(0));
        let (t, v) = (tracker.clone(), values.clone());
        let mut group = limited(
            try_join_iter((0..6).map(move |i| {
                let value = DropCount(v.clone());
                t.track(
                    i,
                    Bomb::new(
                        async move {
                            if i != 1 {
                                futures::future::pending::<()>().await;
                            }
                            Ok::<_, ()>(value)
                        },
                        i == 1,
                    ),
                )
            })),
            limit,
        );
        let token = group.token();
        let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
        assert_eq!(msg, "drop boom", "limit {limit:?}");
        assert!(group.is_terminated());
        // Counted as the child's panic: the rest are gone before it resumes.
        assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 1 }));
        tracker.assert_all_dropped();
        assert_eq!(values.load(SeqCst), tracker.created());
        drop(group);
        tracker.assert_all_dropped();
        assert_eq!(
            values.load(SeqCst),
            tracker.created(),
            "limit {limit:?}: the finished child's value is dropped once, the others' with them"
        );
    }
}

#[test]
fn a_child_panic_wins_over_a_panicking_drop() {
    let tracker = Tracker::new();
    let t = tracker.clone();
    let mut group = try_join_iter((0..6).map(move |i| {
        t.track(
            i,
            Bomb::new(
                async move {
                    yield_now().await;
                    if i == 4 {
                        std::panic::panic_any(MyPayload(4));
                    }
                    futures::future::pending::<Result<(), ()>>().await
                },
                i == 2,
            ),
        )
    }));
    let token = group.token();
    let payload = unwind_of(|| block_on(&mut group));
    assert_eq!(payload.downcast_ref::<MyPayload>(), Some(&MyPayload(4)));
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 4 }));
    tracker.assert_all_dropped();
}

#[test]
fn dropped_mid_flight_drops_every_child_and_the_iterator_once() {
    for limit in [None, Some(1), Some(5)] {
        let tracker = Tracker::new();
        let iter_drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(iter_drops.clone());
        let gate = Gate::new();
        let (t, g) = (tracker.clone(), gate.clone());
        let mut group = limited(
            try_join_iter((0..100).map(move |i| {
                let _keep = &guard;
                let wait = g.wait();
                t.track(i, async move {
                    if i % 3 == 0 {
                        yield_now().await;
                    } else {
                        wait.await;
                    }
                    Ok::<_, ()>(i)
                })
            })),
            limit,
        );
        let token = group.token();
        assert!(poll_once(&mut group).is_pending());
        assert!(poll_once(&mut group).is_pending());
        assert!(tracker.created() > 0);
        assert_eq!(token.reason(), None);
        drop(group);
        assert_eq!(token.reason(), Some(CancelReason::Dropped));
        tracker.assert_all_dropped();
        assert_eq!(iter_drops.load(SeqCst), 1);
        // A late wake of a dropped group's wakers is harmless.
        gate.open();
    }
}

#[test]
fn dropped_before_its_first_poll_pulls_nothing() {
    let tracker = Tracker::new();
    let iter_drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(iter_drops.clone());
    let t = tracker.clone();
    let group = try_join_iter((0..10).map(move |i| {
        let _keep = &guard;
        t.track(i, async move { Ok::<_, ()>(i) })
    }))
    .with_limit(3);
    let token = group.token();
    assert_eq!((group.accepted(), group.in_flight()), (0, 0));
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));
    assert_eq!(tracker.created(), 0, "lazy: the iterator was never pulled");
    assert_eq!(iter_drops.load(SeqCst), 1);

    // And with an empty iterator.
    let group = try_join_iter(std::iter::empty::<futures::future::Ready<Result<(), ()>>>());
    let token = group.token();
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));
}

#[test]
fn a_panicking_iterator_drops_every_started_child_once() {
    let tracker = Tracker::new();
    let t = tracker.clone();
    let mut group = try_join_iter((0..10).map(move |i| {
        if i == 5 {
            panic!("iterator boom");
        }
        t.track(i, futures::future::pending::<Result<(), ()>>())
    }));
    let token = group.token();
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert_eq!(msg, "iterator boom");
    assert!(group.is_terminated(), "a poll that unwound finished it");
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert!(msg.contains("polled after"), "{msg}");
    assert_eq!(tracker.created(), 5);
    drop(group);
    tracker.assert_all_dropped();
    assert!(token.is_cancelled(), "the token fired when the group ended");
}

#[test]
fn an_iterator_whose_drop_panics_with_children_in_flight() {
    // The iterator runs out (and is dropped, panicking) while children still
    // wait: the panic propagates, the group is finished, and dropping it
    // drops every child once and fires the token.
    let tracker = Tracker::new();
    let gate = Gate::new();
    let bomb = PanicOnDrop("iterator drop boom");
    let (t, g) = (tracker.clone(), gate.clone());
    let mut group = try_join_iter((0..4).map(move |i| {
        let _keep = &bomb;
        let wait = g.wait();
        t.track(i, async move {
            wait.await;
            Ok::<_, ()>(i)
        })
    }));
    let token = group.token();
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert_eq!(msg, "iterator drop boom");
    assert!(group.is_terminated());
    assert_eq!(tracker.created(), 4);
    drop(group);
    tracker.assert_all_dropped();
    assert!(token.is_cancelled(), "the token fired when the group ended");
}

/// Bug: the iterator is dropped where it runs out (`self.source = None` in
/// `run`), outside any `catch_unwind`. If that `Drop` panics after every
/// child finished, the poll unwinds with nothing live and no iterator, so
/// the group's `Drop` returns early and the token never fires.
#[test]
fn an_iterator_whose_drop_panics_after_every_child_finished_still_fires_the_token() {
    let tracker = Tracker::new();
    let bomb = PanicOnDrop("iterator drop boom");
    let t = tracker.clone();
    let mut group = try_join_iter((0..3).map(move |i| {
        let _keep = &bomb;
        t.track(i, async move { Ok::<_, ()>(i) })
    }));
    let token = group.token();
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert_eq!(msg, "iterator drop boom");
    assert!(group.is_terminated());
    tracker.assert_all_dropped();
    drop(group);
    assert!(
        token.is_cancelled(),
        "the group ended (its poll unwound) but the token never fired"
    );
}

#[test]
fn a_lying_size_hint_does_not_matter() {
    // Says at least 1000, gives 6; children finish out of order.
    struct Liar(std::ops::Range<usize>);
    impl Iterator for Liar {
        type Item = usize;
        fn next(&mut self) -> Option<usize> {
            self.0.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (1000, Some(1000))
        }
    }
    let group = try_join_iter(Liar(0..6).map(|i| async move {
        yield_times(6 - i).await;
        Ok::<_, ()>(i)
    }));
    assert_eq!(block_on(group), Ok((0..6).collect::<Vec<_>>()));
    // And an endless iterator's `usize::MAX` hint, cut short by an error.
    let group = try_join_iter((0..).map(|i| async move {
        if i == 100 {
            Err(i)
        } else {
            Ok(i)
        }
    }));
    assert_eq!(block_on(group), Err(100));
}

// ---- 3. the limit ----------------------------------------------------------

#[test]
fn the_limit_is_never_exceeded() {
    // Under Miri, fewer children, so a smaller top limit that they still
    // fill (the last assertion below).
    let (n, limits) = if cfg!(miri) {
        (60, [1, 3, 16])
    } else {
        (600, [1, 3, 64])
    };
    for limit in limits {
        let tracker = Tracker::new();
        let board = Board::new();
        let (t, b) = (tracker.clone(), board.clone());
        // A mix: ready, yielding, and waiting to be woken from outside; every
        // child checks the live gauge at every poll.
        let mut group = try_join_iter((0..n).map(move |i| {
            let (t2, wait) = (t.clone(), b.wait(1 + i % 2));
            t.track(i, async move {
                let check = || {
                    let active = t2.active.load(SeqCst);
                    assert!(active <= limit, "{active} in flight, limit {limit}");
                };
                check();
                match i % 3 {
                    0 => {}
                    1 => {
                        for _ in 0..(i % 4) {
                            yield_now().await;
                            check();
                        }
                    }
                    _ => {
                        wait.await;
                        check();
                    }
                }
                Ok::<_, ()>(i)
            })
        }))
        .with_limit(limit);
        let (out, _) = drive(&mut group, &board, false, |g| {
            assert!(g.in_flight() <= limit, "in_flight {}", g.in_flight());
            assert!(g.accepted() <= n);
        });
        assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
        assert!(tracker.max_active() <= limit);
        assert_eq!(tracker.max_active(), limit, "the limit is used in full");
        assert_eq!(tracker.start_order(), (0..n).collect::<Vec<_>>());
        tracker.assert_all_dropped();
    }
}

#[test]
fn a_limit_of_zero_panics() {
    let msg =
        catch_panic(|| try_join_iter((0..3).map(|i| async move { Ok::<_, ()>(i) })).with_limit(0))
            .unwrap_err();
    assert!(msg.contains("limit of 0"), "{msg}");
}

#[test]
fn in_flight_and_accepted_follow_the_children() {
    let gates: Vec<Gate> = (0..6).map(|_| Gate::new()).collect();
    let g = gates.clone();
    let mut group = try_join_iter((0..6).map(move |i| {
        let wait = g[i].wait();
        async move {
            wait.await;
            Ok::<_, ()>(i)
        }
    }))
    .with_limit(3);
    assert_eq!((group.in_flight(), group.accepted()), (0, 0));
    assert!(poll_once(&mut group).is_pending());
    assert_eq!((group.in_flight(), group.accepted()), (3, 3));
    gates[1].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(
        (group.in_flight(), group.accepted()),
        (3, 4),
        "a freed slot starts the next child in the same poll"
    );
    gates[5].open(); // not started yet: starts and finishes at once later
    gates[0].open();
    assert!(poll_once(&mut group).is_pending());
    assert_eq!((group.in_flight(), group.accepted()), (3, 5));
    for gate in &gates {
        gate.open();
    }
    assert_eq!(
        poll_once(&mut group),
        Poll::Ready(Ok(vec![0, 1, 2, 3, 4, 5]))
    );
    assert_eq!((group.in_flight(), group.accepted()), (0, 6));
}

// ---- 4. token reasons -------------------------------------------------------

#[test]
fn the_token_says_finished_failed_or_dropped() {
    // Finished.
    let group = try_join_iter((0..5).map(|i| async move {
        yield_now().await;
        Ok::<_, ()>(i)
    }));
    let token = group.token();
    assert!(!token.is_cancelled());
    assert_eq!(block_on(group), Ok(vec![0, 1, 2, 3, 4]));
    assert_eq!(token.reason(), Some(CancelReason::Finished));

    // Failed, with the failing child's iterator index, under various limits.
    for limit in [None, Some(1), Some(2), Some(5)] {
        for fail in [0, 3, 17] {
            let group = limited(
                try_join_iter((0..20).map(move |i| async move {
                    yield_times(i % 3).await;
                    if i == fail {
                        return Err(format!("child {i}"));
                    }
                    if i > fail {
                        futures::future::pending::<()>().await;
                    }
                    Ok(i)
                })),
                limit,
            );
            let token = group.token();
            let token2 = group.token();
            assert_eq!(block_on(group), Err(format!("child {fail}")));
            assert_eq!(token.reason(), Some(CancelReason::Failed { index: fail }));
            assert_eq!(token2.reason(), token.reason(), "every token is the same");
        }
    }

    // The failing child is not the last one taken from the iterator: child 7
    // wakes child 2, which fails.
    let gate = Gate::new();
    let g = gate.clone();
    let mut group = try_join_iter((0..10).map(move |i| {
        let (gate, wait) = (g.clone(), g.wait());
        async move {
            if i == 2 {
                wait.await;
                return Err(i);
            }
            if i == 7 {
                gate.open();
            }
            futures::future::pending::<Result<(), usize>>().await
        }
    }));
    let token = group.token();
    assert_eq!(block_on(&mut group), Err(2));
    assert!(group.accepted() > 3, "accepted {}", group.accepted());
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 2 }));

    // Dropped, and the token's future completes.
    let group = try_join_iter((0..3).map(|_| futures::future::pending::<Result<(), ()>>()));
    let token = group.token();
    let wait = token.cancelled();
    drop(group);
    block_on(wait);
    assert_eq!(token.reason(), Some(CancelReason::Dropped));
}

#[test]
fn the_token_fires_for_a_waiter_on_another_thread() {
    let group = try_join_iter((0..4).map(from_thread)).with_limit(2);
    let token = group.token();
    let waiter = std::thread::spawn(move || {
        token.wait_blocking();
        token.reason()
    });
    assert_eq!(block_on(group), Ok(vec![0, 10, 20, 30]));
    assert_eq!(waiter.join().unwrap(), Some(CancelReason::Finished));
}

/// Bug: a token taken after the group ended never fires (the doc says the
/// token "always fires when the group ends"; `TryGroup::token` taken late
/// carries the reason). `token()` lazily makes a fresh, unfired token.
#[test]
fn a_token_taken_after_the_group_ended_carries_the_reason() {
    let mut group = try_join_iter((0..3).map(|i| async move { Ok::<_, ()>(i) }));
    assert_eq!(block_on(&mut group), Ok(vec![0, 1, 2]));
    assert_eq!(group.token().reason(), Some(CancelReason::Finished));

    let mut group = try_join_iter((0..3).map(|i| async move {
        if i == 1 {
            Err(i)
        } else {
            Ok(i)
        }
    }));
    assert_eq!(block_on(&mut group), Err(1));
    assert_eq!(
        group.token().reason(),
        Some(CancelReason::Failed { index: 1 })
    );
}

/// The last child's `Drop` panics as it finishes, after the iterator ran
/// out: nothing is left in flight, yet the token must fire (a `Drop` panic
/// as a child finishes counts as that child's panic).
#[test]
fn the_token_fires_when_the_last_childs_drop_panics() {
    let gate = Gate::new();
    let wait = gate.wait();
    let mut group = try_join_iter(std::iter::once(Bomb::new(
        async move {
            wait.await;
            Ok::<_, ()>(1)
        },
        true,
    )));
    let token = group.token();
    assert!(poll_once(&mut group).is_pending(), "the iterator ran out");
    gate.open();
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert_eq!(msg, "drop boom");
    assert!(group.is_terminated());
    assert_eq!(
        token.reason(),
        Some(CancelReason::Panicked { index: 0 }),
        "the group ended but its token did not fire"
    );
    drop(group);
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 0 }));
}

// ---- 5. fairness and the budget -----------------------------------------

#[test]
fn ten_thousand_ready_children_take_several_polls() {
    let n = if cfg!(miri) { 1_000 } else { 10_000 };
    let tracker = Tracker::new();
    let t = tracker.clone();
    let mut group = try_join_iter((0..n).map(move |i| t.track(i, async move { Ok::<_, ()>(i) })));
    let (waker, count) = new_count_waker();
    assert!(
        poll_with(&mut group, &waker).is_pending(),
        "one poll must not run {n} children"
    );
    assert_eq!(count.get(), 1, "it woke itself before yielding");
    let polls = tracker.polls.load(SeqCst);
    assert!(
        polls > 0 && polls <= BUDGET,
        "{polls} child polls in one poll"
    );
    assert_eq!(group.accepted(), polls);

    let mut group_polls = 1;
    let out = loop {
        let (before, polls_before) = (count.get(), tracker.polls.load(SeqCst));
        let out = poll_with(&mut group, &waker);
        group_polls += 1;
        let step = tracker.polls.load(SeqCst) - polls_before;
        assert!(step <= BUDGET, "{step} child polls in one poll");
        match out {
            Poll::Ready(out) => break out,
            Poll::Pending => assert!(count.get() > before, "Pending without a wake"),
        }
    };
    assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
    assert!(group_polls >= n / BUDGET, "{group_polls} polls");
    tracker.assert_all_dropped();
}

#[test]
fn yielding_children_do_a_bounded_amount_of_work_per_poll() {
    let n = if cfg!(miri) { 300 } else { 2_000 };
    for limit in [None, Some(64)] {
        let tracker = Tracker::new();
        let t = tracker.clone();
        let mut group = limited(
            try_join_iter((0..n).map(move |i| {
                t.track(i, async move {
                    yield_times(3).await;
                    Ok::<_, ()>(i)
                })
            })),
            limit,
        );
        let (waker, count) = new_count_waker();
        let (mut max_step, mut max_starts, mut group_polls) = (0, 0, 0);
        let out = loop {
            let (before, polls_before) = (count.get(), tracker.polls.load(SeqCst));
            let accepted_before = group.accepted();
            let out = poll_with(&mut group, &waker);
            group_polls += 1;
            max_step = max_step.max(tracker.polls.load(SeqCst) - polls_before);
            max_starts = max_starts.max(group.accepted() - accepted_before);
            match out {
                Poll::Ready(out) => break out,
                Poll::Pending => assert!(count.get() > before, "Pending without a wake"),
            }
        };
        assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
        assert!(
            max_starts <= BUDGET,
            "limit {limit:?}: {max_starts} children started in one poll"
        );
        // At most BUDGET started and BUDGET polled again; and the first child
        // that pends is polled once more right away with a waker of its own
        // (documented), so allow that one extra poll.
        assert!(
            max_step <= 2 * BUDGET + 1,
            "limit {limit:?}: {max_step} child polls in one poll"
        );
        // Each child is polled 4 times (3 yields), about 4n polls in all.
        assert!(
            group_polls >= 4 * n / (2 * BUDGET + 1),
            "limit {limit:?}: only {group_polls} group polls"
        );
        tracker.assert_all_dropped();
    }
}

#[test]
fn a_child_that_yields_for_ever_does_not_starve_a_woken_sibling() {
    // Child 0 waits on a gate; child 1 yields until child 0 is done (and
    // gives up after 5 s, failing the test). The gate is opened from another
    // thread, or by the spinner itself.
    for from_thread in [true, false] {
        let gate = Gate::new();
        let done = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicUsize::new(0));
        let (g, d, s) = (gate.clone(), done.clone(), spins.clone());
        let group = try_join_iter((0..2).map(move |i| {
            let (gate, done, spins) = (g.clone(), d.clone(), s.clone());
            async move {
                if i == 1 {
                    let start = Instant::now();
                    while !done.load(SeqCst) {
                        if spins.fetch_add(1, SeqCst) == 10 && !from_thread {
                            gate.open();
                        }
                        if start.elapsed() > Duration::from_secs(5) {
                            return Err("the woken sibling was starved");
                        }
                        yield_now().await;
                    }
                } else {
                    gate.wait().await;
                    done.store(true, SeqCst);
                }
                Ok(i)
            }
        }));
        let opener = from_thread.then(|| {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                gate.open();
            })
        });
        assert_eq!(
            block_on(group),
            Ok(vec![0, 1]),
            "from a thread: {from_thread}"
        );
        if let Some(opener) = opener {
            opener.join().unwrap();
        }
    }
}

/// Regression (fixed in 7f7fb08): a child that keeps yielding must not starve
/// the children not started yet while slots are free. `run` used to pull the
/// iterator only when no slot was ready, and a yielding child always is, so
/// child 1 never started and child 0 (which yields until child 1 ran) spun.
#[test]
fn a_child_that_yields_for_ever_does_not_starve_children_not_started_yet() {
    const GIVE_UP: usize = 20_000;
    for limit in [None, Some(2)] {
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let group = limited(
            try_join_iter((0..2).map(move |i| {
                let started = s.clone();
                async move {
                    if i == 0 {
                        let mut spins = 0;
                        while !started.load(SeqCst) {
                            spins += 1;
                            if spins == GIVE_UP {
                                return Err("child 1 never started");
                            }
                            yield_now().await;
                        }
                    } else {
                        started.store(true, SeqCst);
                    }
                    Ok(i)
                }
            })),
            limit,
        );
        assert_eq!(block_on(group), Ok(vec![0, 1]), "limit {limit:?}");
    }
}

#[test]
fn a_woken_child_is_polled_within_one_more_poll_despite_a_spinner() {
    // Manual polls: the spinner opens the gate during group poll k; the gate's
    // child must finish by group poll k + 1.
    let gate = Gate::new();
    let done = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicUsize::new(0));
    let (g, d, s) = (gate.clone(), done.clone(), spins.clone());
    let mut group = try_join_iter((0..2).map(move |i| {
        let (gate, done, spins) = (g.clone(), d.clone(), s.clone());
        async move {
            if i == 0 {
                gate.wait().await;
                done.store(true, SeqCst);
            } else {
                while !done.load(SeqCst) {
                    if spins.fetch_add(1, SeqCst) == 1000 {
                        gate.open();
                    }
                    yield_now().await;
                }
            }
            Ok::<_, ()>(i)
        }
    }));
    let (waker, _count) = new_count_waker();
    let mut opened_at = None;
    let mut done_at = None;
    for poll in 0..100 {
        let out = poll_with(&mut group, &waker);
        if opened_at.is_none() && gate.is_open() {
            opened_at = Some(poll);
        }
        if done_at.is_none() && done.load(SeqCst) {
            done_at = Some(poll);
        }
        if out.is_ready() {
            assert_eq!(out, Poll::Ready(Ok(vec![0, 1])));
            break;
        }
    }
    let (opened_at, done_at) = (
        opened_at.unwrap(),
        done_at.expect("the woken child never ran"),
    );
    assert!(
        done_at <= opened_at + 1,
        "woken at poll {opened_at}, polled only at poll {done_at}"
    );
}

// ---- 6. wakers ---------------------------------------------------------------

#[test]
fn children_woken_from_other_threads_complete_on_every_executor() {
    on_every_executor(|| async {
        for limit in [None, Some(1), Some(4)] {
            let group = limited(try_join_iter((0..12).map(from_thread)), limit);
            let token = group.token();
            assert_eq!(
                group.await,
                Ok((0..12).map(|i| i * 10).collect::<Vec<_>>()),
                "limit {limit:?}"
            );
            assert_eq!(token.reason(), Some(CancelReason::Finished));
        }
        // Mixed with yielding and ready children.
        let group = try_join_iter((0..12).map(|i| async move {
            match i % 3 {
                0 => from_thread(i).await,
                1 => {
                    yield_times(2).await;
                    Ok(i * 10)
                }
                _ => Ok(i * 10),
            }
        }))
        .with_limit(5);
        assert_eq!(group.await, Ok((0..12).map(|i| i * 10).collect::<Vec<_>>()));
    });
}

#[test]
fn tokio_oneshots_woken_from_other_threads() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let group = try_join_iter((0..16).map(|i| async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || tx.send(i));
            rx.await.map_err(|_| "closed")
        }))
        .with_limit(3);
        assert_eq!(group.await, Ok((0..16).collect::<Vec<_>>()));
    });
}

#[cfg(not(miri))] // multi-thread runtimes and their reactors
#[test]
fn a_group_spawned_on_a_work_stealing_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let joins: Vec<_> = (0..4)
        .map(|_| rt.spawn(try_join_iter((0..16).map(from_thread)).with_limit(5)))
        .collect();
    for join in joins {
        assert_eq!(
            rt.block_on(join).unwrap(),
            Ok((0..16).map(|i| i * 10).collect::<Vec<_>>())
        );
    }

    // Polled once here (with a waker that does nothing), finished there: the
    // group must use the latest waker.
    let mut group = try_join_iter((0..8).map(from_thread)).with_limit(3);
    assert!(poll_once(&mut group).is_pending());
    assert_eq!(
        rt.block_on(rt.spawn(group)).unwrap(),
        Ok((0..8).map(|i| i * 10).collect::<Vec<_>>())
    );

    let ex = smol::Executor::new();
    let task = ex.spawn(try_join_iter((0..8).map(from_thread)).with_limit(2));
    assert_eq!(
        smol::block_on(ex.run(task)),
        Ok((0..8).map(|i| i * 10).collect::<Vec<_>>())
    );
}

/// Stashes a clone of the waker of every poll, and finishes once `go`.
fn stashing(
    stash: Arc<Mutex<Vec<Waker>>>,
    go: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
) -> impl Future<Output = ()> + Send + 'static {
    std::future::poll_fn(move |cx| {
        polls.fetch_add(1, SeqCst);
        if go.load(SeqCst) {
            return Poll::Ready(());
        }
        stash.lock().unwrap().push(cx.waker().clone());
        if go.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

#[test]
fn a_stale_waker_of_a_finished_child_does_not_disturb_its_slots_next_child() {
    // Limit 1: every child uses the same slot. Child 0 registers wakers; it is
    // released and finishes; child 1 takes the slot. Child 0's wakers are
    // woken afterwards, while the slot is in use and once more after.
    let stash0 = Arc::new(Mutex::new(Vec::new()));
    let stash1 = Arc::new(Mutex::new(Vec::new()));
    let gos = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let polls = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let tracker = Tracker::new();
    let (s0, s1, g, p, t) = (
        stash0.clone(),
        stash1.clone(),
        gos.clone(),
        polls.clone(),
        tracker.clone(),
    );
    let mut group = try_join_iter((0..3).map(move |i| {
        let stash = if i == 0 { s0.clone() } else { s1.clone() };
        let (go, count) = if i < 2 {
            (g[i].clone(), p[i].clone())
        } else {
            (
                Arc::new(AtomicBool::new(true)),
                Arc::new(AtomicUsize::new(0)),
            )
        };
        t.track(i, async move {
            stashing(stash, go, count).await;
            Ok::<_, ()>(i)
        })
    }))
    .with_limit(1);
    let (waker, count) = new_count_waker();
    assert!(poll_with(&mut group, &waker).is_pending());
    assert_eq!(group.accepted(), 1);
    let stale: Vec<Waker> = stash0.lock().unwrap().clone();
    assert!(!stale.is_empty());

    // Release child 0 through its latest waker: child 1 starts in its slot.
    gos[0].store(true, SeqCst);
    let before = count.get();
    stale.last().unwrap().wake_by_ref();
    assert!(count.get() > before, "the slot's waker woke the group");
    assert!(poll_with(&mut group, &waker).is_pending());
    assert_eq!(group.accepted(), 2);
    assert_eq!(tracker.dropped(), 1, "child 0 finished");

    // Stale wakes while child 1 holds the slot: at most spurious polls.
    let polls1 = polls[1].load(SeqCst);
    for w in &stale {
        w.wake_by_ref();
    }
    for _ in 0..3 {
        assert!(poll_with(&mut group, &waker).is_pending());
    }
    assert!(
        polls[1].load(SeqCst) >= polls1,
        "child 1 was polled, at most"
    );
    assert_eq!(group.in_flight(), 1);

    // Child 1 still completes through its own waker, and child 2 after it.
    gos[1].store(true, SeqCst);
    let latest = stash1.lock().unwrap().last().unwrap().clone();
    let before = count.get();
    latest.wake();
    assert!(count.get() > before, "child 1's waker woke the group");
    assert_eq!(
        poll_with(&mut group, &waker),
        Poll::Ready(Ok(vec![0, 1, 2]))
    );
    // Stale wakes after completion, and after the group is gone.
    for w in stale.iter().chain(stash1.lock().unwrap().iter()) {
        w.wake_by_ref();
    }
    drop(group);
    for w in stale {
        w.wake();
    }
    tracker.assert_all_dropped();
}

#[test]
fn stale_wakers_woken_from_another_thread_while_slots_are_reused() {
    // A thread keeps waking every waker any child ever registered while the
    // group runs children one slot after the other (limit 1 and 2). Each
    // child waits on its own gate, opened by a thread. Nothing may break:
    // values right, no child polled after it finished (Tracked asserts it).
    let n = if cfg!(miri) { 10 } else { 100 };
    for limit in [1, 2] {
        let stash = Arc::new(Mutex::new(Vec::<Waker>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tracker = Tracker::new();
        let gates: Vec<Gate> = (0..n).map(|_| Gate::new()).collect();
        let waker_thread = {
            let (stash, stop) = (stash.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    let wakers = stash.lock().unwrap().clone();
                    for w in wakers {
                        w.wake();
                    }
                    std::thread::yield_now();
                }
            })
        };
        let opener = {
            let gates = gates.clone();
            std::thread::spawn(move || {
                for gate in gates {
                    std::thread::sleep(Duration::from_micros(50));
                    gate.open();
                }
            })
        };
        let (t, s, g) = (tracker.clone(), stash.clone(), gates.clone());
        let group = try_join_iter((0..n).map(move |i| {
            let (stash, wait) = (s.clone(), g[i].wait());
            t.track(i, async move {
                // Register a waker that outlives this child.
                std::future::poll_fn(|cx| {
                    stash.lock().unwrap().push(cx.waker().clone());
                    Poll::Ready(())
                })
                .await;
                wait.await;
                Ok::<_, ()>(i)
            })
        }))
        .with_limit(limit);
        let out = strict_block_on(group);
        stop.store(true, SeqCst);
        waker_thread.join().unwrap();
        opener.join().unwrap();
        assert_eq!(out, Ok((0..n).collect::<Vec<_>>()));
        tracker.assert_all_dropped();
    }
}

#[test]
fn many_threads_waking_many_slots_at_once() {
    // Three threads release the board in a loop while the group runs: slot
    // wakers race with each other and with the group taking them. A lost
    // wake-up makes `strict_block_on` fail (after 10 s).
    let n = if cfg!(miri) { 20 } else { 300 };
    let board = Board::new();
    let stop = Arc::new(AtomicBool::new(false));
    let releasers: Vec<_> = (0..3)
        .map(|_| {
            let (board, stop) = (board.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(SeqCst) {
                    board.release();
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for limit in [None, Some(16), Some(1)] {
        let tracker = Tracker::new();
        let (b, t) = (board.clone(), tracker.clone());
        let group = limited(
            try_join_iter((0..n).map(move |i| {
                let wait = b.wait(1 + i % 4);
                t.track(i, async move {
                    wait.await;
                    Ok::<_, ()>(i)
                })
            })),
            limit,
        );
        assert_eq!(
            strict_block_on(group),
            Ok((0..n).collect::<Vec<_>>()),
            "limit {limit:?}"
        );
        tracker.assert_all_dropped();
    }
    stop.store(true, SeqCst);
    for r in releasers {
        r.join().unwrap();
    }
}

#[test]
fn a_child_that_pends_without_touching_its_waker_is_not_polled_again() {
    // Child 0 registers (so the probe is in use for the next first polls);
    // children 1..=3 pend untouched: polled once, never again, even though
    // the group is polled many times; they are dropped with the group.
    let tracker = Tracker::new();
    let gate = Gate::new();
    let counts: Vec<Arc<AtomicUsize>> = (0..4).map(|_| Arc::new(AtomicUsize::new(0))).collect();
    let (t, g, c) = (tracker.clone(), gate.clone(), counts.clone());
    let mut group = try_join_iter((0..4).map(move |i| {
        let (wait, pend) = (g.wait(), pend_untouched(c[i].clone()));
        t.track(i, async move {
            if i == 0 {
                wait.await;
            } else {
                pend.await;
            }
            Ok::<_, ()>(i)
        })
    }));
    let (waker, _count) = new_count_waker();
    for _ in 0..5 {
        assert!(poll_with(&mut group, &waker).is_pending());
    }
    gate.open();
    for _ in 0..5 {
        assert!(poll_with(&mut group, &waker).is_pending());
    }
    assert_eq!(group.in_flight(), 3);
    for (i, c) in counts.iter().enumerate().skip(1) {
        assert_eq!(c.load(SeqCst), 1, "child {i} polled again");
    }
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn a_yielding_child_is_polled_again_with_nothing_else_to_wake_it() {
    // No outside wake at all: only the group's own self-wakes drive it.
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let mut group = try_join_iter((0..3).map(move |i| {
        let p = p.clone();
        async move {
            for _ in 0..5 {
                p.set(p.get() + 1);
                yield_now().await;
            }
            Ok::<_, ()>(i)
        }
    }));
    let (waker, count) = new_count_waker();
    let out = loop {
        let before = count.get();
        match poll_with(&mut group, &waker) {
            Poll::Ready(out) => break out,
            Poll::Pending => assert!(count.get() > before, "Pending without a wake"),
        }
    };
    assert_eq!(out, Ok(vec![0, 1, 2]));
    assert_eq!(polls.get(), 15);
}

// ---- 7. borrowed and !Send children ----------------------------------------

#[test]
fn children_may_borrow_local_data() {
    let words: Vec<String> = ["alpha", "beta", "gamma", "delta"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let total = Cell::new(0);
    let group = try_join_iter(words.iter().map(|w| {
        let total = &total;
        async move {
            yield_now().await;
            total.set(total.get() + w.len());
            Ok::<&str, ()>(&w[..2])
        }
    }))
    .with_limit(2);
    let out = block_on(group);
    assert_eq!(out, Ok(vec!["al", "be", "ga", "de"]));
    assert_eq!(total.get(), 5 + 4 + 5 + 5);
    drop(words);
}

#[test]
fn rc_children_run_on_local_executors() {
    fn group() -> TryJoinIter<impl Iterator<Item = impl Future<Output = Result<Rc<usize>, Rc<str>>>>>
    {
        let shared = Rc::new(Cell::new(0));
        try_join_iter((0..10).map(move |i| {
            let shared = shared.clone();
            async move {
                yield_times(i % 3).await;
                shared.set(shared.get() + 1);
                if shared.get() > 10 {
                    return Err(Rc::from("too many"));
                }
                Ok(Rc::new(i))
            }
        }))
        .with_limit(3)
    }
    let want: Vec<usize> = (0..10).collect();
    let unrc = |v: Vec<Rc<usize>>| v.into_iter().map(|r| *r).collect::<Vec<_>>();
    assert_eq!(block_on(group()).map(unrc).unwrap(), want);
    assert_eq!(pollster::block_on(group()).map(unrc).unwrap(), want);
    assert_eq!(strict_block_on(group()).map(unrc).unwrap(), want);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(group()).map(unrc).unwrap(), want);
    if !cfg!(miri) {
        assert_eq!(smol::block_on(group()).map(unrc).unwrap(), want);
        assert_eq!(
            tokio::task::LocalSet::new()
                .block_on(&rt, async {
                    tokio::task::spawn_local(group()).await.unwrap()
                })
                .map(unrc)
                .unwrap(),
            want
        );
    }
}

// ---- 8. completion, FusedFuture, Debug ---------------------------------------

#[test]
fn polling_after_completion_panics_and_it_is_terminated() {
    // Ok.
    let mut group = try_join_iter((0..3).map(|i| async move { Ok::<_, ()>(i) }));
    assert!(!group.is_terminated());
    let (waker, _) = new_count_waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(group.poll_unpin(&mut cx), Poll::Ready(Ok(vec![0, 1, 2])));
    assert!(group.is_terminated());
    let msg = catch_panic(|| group.poll_unpin(&mut cx)).unwrap_err();
    assert!(msg.contains("polled after it completed"), "{msg}");
    assert!(group.is_terminated());

    // Err.
    let mut group = try_join_iter((0..3).map(|i| async move {
        yield_now().await;
        if i == 2 {
            Err(i)
        } else {
            Ok(i)
        }
    }));
    assert!(!group.is_terminated());
    assert_eq!(block_on(&mut group), Err(2));
    assert!(group.is_terminated());
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert!(msg.contains("polled after it completed"), "{msg}");

    // Pending is not terminated; works in select!.
    let gate = Gate::new();
    let g = gate.clone();
    let mut group = try_join_iter((0..2).map(move |i| {
        let wait = g.wait();
        async move {
            wait.await;
            Ok::<_, ()>(i)
        }
    }));
    assert!(poll_once(&mut group).is_pending());
    assert!(!group.is_terminated());
    gate.open();
    let out = block_on(async {
        let mut other = futures::future::pending::<()>().fuse();
        futures::select! {
            out = group => out,
            _ = other => unreachable!(),
        }
    });
    assert_eq!(out, Ok(vec![0, 1]));
    assert!(group.is_terminated());
}

#[test]
fn debug_names_the_type_and_shows_its_state() {
    struct Opaque; // neither the future nor its output is Debug
    impl Future for Opaque {
        type Output = Result<Opaque, Opaque>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            Poll::Pending
        }
    }
    let mut group = try_join_iter((0..5).map(|_| Opaque)).with_limit(2);
    let text = format!("{group:?}");
    assert!(text.contains("TryJoinIter"), "{text}");
    assert!(text.contains('2'), "shows the limit: {text}");
    assert!(poll_once(&mut group).is_pending());
    let text = format!("{group:?}");
    assert!(text.contains("TryJoinIter"), "{text}");
    assert!(text.contains("in_flight: 2"), "{text}");
}

// ---- 9. empty ------------------------------------------------------------------

#[test]
fn an_empty_iterator_resolves_at_the_first_poll() {
    let mut group = try_join_iter(std::iter::empty::<futures::future::Ready<Result<u8, ()>>>());
    let token = group.token();
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok(vec![])));
    assert_eq!(token.reason(), Some(CancelReason::Finished));
    assert!(group.is_terminated());

    let mut group =
        try_join_iter(Vec::<futures::future::Ready<Result<u8, ()>>>::new()).with_limit(1);
    assert_eq!(poll_once(&mut group), Poll::Ready(Ok(vec![])));

    on_every_executor(|| async {
        let group = try_join_iter((0..0).map(|i| async move { Ok::<_, ()>(i) }));
        assert_eq!(group.await, Ok(vec![]));
    });
}

// ---- 10. zero-sized values ----------------------------------------------------

#[test]
fn a_million_zero_sized_children_under_a_limit_of_64() {
    // A million in release; debug builds (how the suite runs) scale down to
    // stay well under 2 s.
    let n: usize = if cfg!(miri) {
        2_000
    } else if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    let live = Cell::new(0usize);
    let peak = Cell::new(0usize);
    let group = try_join_iter((0..n).map(|i| {
        let (live, peak) = (&live, &peak);
        async move {
            live.set(live.get() + 1);
            peak.set(peak.get().max(live.get()));
            if i % 2 == 0 {
                yield_now().await;
            }
            live.set(live.get() - 1);
            Ok::<(), ()>(())
        }
    }))
    .with_limit(64);
    let out = block_on(group).unwrap();
    assert_eq!(out.len(), n);
    assert!(peak.get() <= 64, "peak {}", peak.get());
    assert_eq!(live.get(), 0);

    // Plain ready ZSTs, no limit.
    let out = block_on(try_join_iter(
        (0..n).map(|_| std::future::ready(Ok::<(), ()>(()))),
    ))
    .unwrap();
    assert_eq!(out.len(), n);
}

// ---- 11. auto traits: in tests/auto_traits.rs, beside the other types' --

// ---- 12. proptest against a model --------------------------------------------

/// What a proptest child does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `Ok` at its first poll.
    Ready,
    /// Yields `n` times (releasing the board at every poll), then `Ok`.
    Yield(u8),
    /// Registers its waker and waits for `n` releases of the board (by a
    /// sibling, or by the driver from outside when nothing else can run).
    Wait(u8),
    /// Yields (releasing the board) and fails at its `n`th poll.
    Fail(u8),
    /// Yields (releasing the board) and panics at its `n`th poll.
    Panic(u8),
    /// Pends for ever without touching its waker: it holds its slot until
    /// the group ends, and the group can only end by an error or a drop.
    Untouched,
}

/// The payload of a proptest child's panic.
struct ChildPanic(usize);

/// A proptest child: one type for every kind.
struct Scripted {
    index: usize,
    kind: Kind,
    polls: usize,
    board: Arc<Board>,
    finished: Arc<Mutex<Vec<bool>>>,
    wait: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Scripted {
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Result<u64, usize>> {
        self.polls += 1;
        let value = self.index as u64 * 10 + 1;
        let yield_until = |n: u8, polls: usize, board: &Board| {
            board.release();
            if polls >= n as usize {
                true
            } else {
                cx.waker().wake_by_ref();
                false
            }
        };
        match self.kind {
            Kind::Ready => Poll::Ready(Ok(value)),
            Kind::Yield(n) => match yield_until(n + 1, self.polls, &self.board) {
                true => Poll::Ready(Ok(value)),
                false => Poll::Pending,
            },
            Kind::Fail(n) => match yield_until(n, self.polls, &self.board) {
                true => Poll::Ready(Err(self.index)),
                false => Poll::Pending,
            },
            Kind::Panic(n) => match yield_until(n, self.polls, &self.board) {
                true => std::panic::panic_any(ChildPanic(self.index)),
                false => Poll::Pending,
            },
            Kind::Wait(n) => {
                let board = &self.board;
                let wait = self
                    .wait
                    .get_or_insert_with(|| Box::pin(board.wait(n as usize)));
                wait.as_mut().poll(cx).map(|()| Ok(value))
            }
            Kind::Untouched => Poll::Pending,
        }
    }
}

impl Future for Scripted {
    type Output = Result<u64, usize>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = self.step(cx);
        if out.is_ready() {
            self.finished.lock().unwrap()[self.index] = true;
        }
        out
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Ready),
        6 => (1u8..=4).prop_map(Kind::Yield),
        6 => (1u8..=3).prop_map(Kind::Wait),
        2 => (1u8..=4).prop_map(Kind::Fail),
        1 => (1u8..=4).prop_map(Kind::Panic),
        1 => Just(Kind::Untouched),
    ]
}

/// How a proptest group ended.
#[derive(Debug, PartialEq)]
enum End {
    Ok(Vec<u64>),
    Err(usize),
    Panicked(usize),
    /// Pending with nothing that could wake it (untouched children).
    Stalled,
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Random children under a random limit, polled by a strict driver that
    /// plays the outside world: the outcome matches the model, the limit
    /// holds at every poll, first polls follow iterator order, and every
    /// child and the iterator are dropped exactly once, before the outcome
    /// is handed back (or, for a stalled group, when it is dropped).
    #[test]
    fn random_children_match_the_model(
        kinds in proptest::collection::vec(kind(), 0..40),
        limit in prop_oneof![Just(None), (1usize..8).prop_map(Some)],
        on_thread in any::<bool>(),
    ) {
        let n = kinds.len();
        let tracker = Tracker::new();
        let board = Board::new();
        let finished = Arc::new(Mutex::new(vec![false; n]));
        let iter_drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCount(iter_drops.clone());
        let (t, b, k, f) = (tracker.clone(), board.clone(), kinds.clone(), finished.clone());
        let mut group = limited(
            try_join_iter((0..n).map(move |i| {
                let _keep = &guard;
                t.track(i, Scripted {
                    index: i,
                    kind: k[i],
                    polls: 0,
                    board: b.clone(),
                    finished: f.clone(),
                    wait: None,
                })
            })),
            limit,
        );
        let token = group.token();
        let cap = limit.unwrap_or(usize::MAX);
        let run = catch_unwind(AssertUnwindSafe(|| {
            drive_or_stall(&mut group, &board, on_thread, |g| {
                assert!(g.in_flight() <= cap, "in_flight {} over limit {cap}", g.in_flight());
                assert_eq!(g.accepted(), tracker.created(), "accepted = children pulled");
            })
            .0
        }));
        let end = match run {
            Ok(Some(Ok(values))) => End::Ok(values),
            Ok(Some(Err(index))) => End::Err(index),
            Ok(None) => End::Stalled,
            Err(payload) => match payload.downcast::<ChildPanic>() {
                Ok(p) => End::Panicked(p.0),
                Err(other) => std::panic::resume_unwind(other),
            },
        };
        let created = tracker.created();
        prop_assert!(tracker.max_active() <= cap, "max active {}", tracker.max_active());
        let started = tracker.start_order();
        prop_assert_eq!(&started, &(0..created).collect::<Vec<_>>(), "first polls in iterator order");

        // One at a time, the first child that is not Ready/Yield/Wait decides.
        if limit == Some(1) {
            let decisive = kinds
                .iter()
                .position(|k| matches!(k, Kind::Fail(_) | Kind::Panic(_) | Kind::Untouched));
            let want = match decisive.map(|i| (i, kinds[i])) {
                None => End::Ok((0..n).map(|i| i as u64 * 10 + 1).collect()),
                Some((i, Kind::Fail(_))) => End::Err(i),
                Some((i, Kind::Panic(_))) => End::Panicked(i),
                Some(_) => End::Stalled,
            };
            prop_assert_eq!(&end, &want);
            prop_assert_eq!(created, decisive.map_or(n, |i| i + 1));
        }

        match &end {
            End::Ok(values) => {
                prop_assert!(
                    kinds.iter().all(|k| matches!(k, Kind::Ready | Kind::Yield(_) | Kind::Wait(_))),
                    "Ok although some child fails, panics or never finishes"
                );
                prop_assert_eq!(values, &(0..n).map(|i| i as u64 * 10 + 1).collect::<Vec<_>>());
                prop_assert_eq!(created, n);
                prop_assert_eq!(token.reason(), Some(CancelReason::Finished));
            }
            End::Err(index) => {
                prop_assert!(matches!(kinds[*index], Kind::Fail(_)), "Err({}) from {:?}", index, kinds[*index]);
                prop_assert!(*index < created);
                prop_assert_eq!(token.reason(), Some(CancelReason::Failed { index: *index }));
            }
            End::Panicked(index) => {
                prop_assert!(matches!(kinds[*index], Kind::Panic(_)), "panic of {} from {:?}", index, kinds[*index]);
                prop_assert!(*index < created);
                prop_assert_eq!(token.reason(), Some(CancelReason::Panicked { index: *index }));
            }
            End::Stalled => {
                // Only untouched children may be left, and at least one is.
                let finished = finished.lock().unwrap().clone();
                let left: Vec<usize> = (0..created).filter(|&i| !finished[i]).collect();
                prop_assert!(!left.is_empty());
                prop_assert!(
                    left.iter().all(|&i| kinds[i] == Kind::Untouched),
                    "stalled with {:?} unfinished ({:?}): a lost wake-up",
                    left,
                    left.iter().map(|&i| kinds[i]).collect::<Vec<_>>()
                );
                prop_assert_eq!(group.in_flight(), left.len());
                prop_assert!(!group.is_terminated());
                prop_assert_eq!(token.reason(), None);
            }
        }
        if end != End::Stalled {
            // Everything is gone before the outcome is handed back.
            tracker.assert_all_dropped();
            prop_assert_eq!(iter_drops.load(SeqCst), 1, "the iterator dropped once");
            prop_assert_eq!(group.in_flight(), 0);
            prop_assert!(group.is_terminated());
        }
        drop(group);
        if end == End::Stalled {
            prop_assert_eq!(token.reason(), Some(CancelReason::Dropped));
        }
        tracker.assert_all_dropped();
        prop_assert_eq!(iter_drops.load(SeqCst), 1);
    }
}
