//! [`TryJoinIter`]: a group of same-typed children pulled from one
//! iterator, each polled in a reused slot instead of a box of its own.

mod slots;

use std::cell::OnceCell;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedFuture, TryFuture};

use crate::core::{Outcome, Payload, Results};
use crate::{CancelReason, CancelToken};
use slots::{Polled, Slots};

/// How many children one poll of the group polls again (and, with
/// [`TryJoinIter::pull_budget`], starts) before it wakes itself and yields.
const BUDGET: u32 = 256;

/// The most slots made room for before the first child runs.
const SLOTS_RESERVED: usize = 16;

/// What a [`TryJoinIter`] over `I` resolves to.
type Output<I> = Result<
    Vec<<<I as Iterator>::Item as TryFuture>::Ok>,
    <<I as Iterator>::Item as TryFuture>::Error,
>;

/// The most values room is made for before the first child runs.
const RESERVE_MAX: usize = 1 << 16;

/// Runs every future of `children`, in place, and collects their values in
/// iterator order; on the first error, drops the rest and returns it.
///
/// The unboxed sibling of [`TryGroup`](crate::TryGroup), for the common case
/// of one batch of futures of one type (`(0..n).map(fetch)`): each child is
/// polled in a slot that the next child reuses, so a child costs no
/// allocation of its own, and the iterator is pulled lazily, only when a
/// slot is free. See [`TryJoinIter`] for what it does and does not do.
///
/// # Examples
///
/// ```
/// # futures::executor::block_on(async {
/// async fn square(i: u64) -> Result<u64, String> {
///     Ok(i * i)
/// }
///
/// let squares = trygroup::try_join_iter((0..5).map(square)).await;
/// assert_eq!(squares, Ok(vec![0, 1, 4, 9, 16]));
///
/// // At most 2 in flight; the first error wins and drops the rest.
/// let failed = trygroup::try_join_iter((0..100).map(|i| async move {
///     if i == 3 { Err(format!("child {i} failed")) } else { Ok(i) }
/// }))
/// .with_limit(2)
/// .await;
/// assert_eq!(failed, Err("child 3 failed".to_string()));
/// # });
/// ```
pub fn try_join_iter<I>(children: I) -> TryJoinIter<I::IntoIter>
where
    I: IntoIterator,
    I::Item: TryFuture,
{
    TryJoinIter {
        source: Some(children.into_iter()),
        slots: Slots::new(),
        limit: None,
        accepted: 0,
        results: Results::new(),
        token: OnceCell::new(),
        reason: None,
        done: false,
    }
}

/// The future of [`try_join_iter`]: `Ok` with every child's value in
/// iterator order, or the first error.
///
/// It keeps the rules of [`TryGroup`](crate::TryGroup) that apply to one
/// batch of children:
///
/// * Children are polled in place, on the task that polls this future; they
///   may borrow local data, and nothing is spawned.
/// * The iterator is pulled only when a slot is free
///   ([`with_limit`](Self::with_limit)), so a batch of millions holds
///   O(limit) children. Children are first polled in iterator order.
/// * On the first error (in poll order), the token fires
///   [`CancelReason::Failed`], every other child and the iterator are
///   dropped, and then the error is returned. A child that panics fires
///   [`CancelReason::Panicked`] and is dropped with the rest before the
///   panic resumes, with its original payload; so does a child whose `Drop`
///   panics as it finishes. Every child is dropped exactly once, even if
///   some `Drop`s panic (on the error path and when the group is dropped,
///   the first such panic resumes after the rest are dropped).
/// * One poll does a bounded amount of work (at most 256 children started,
///   and 256 polled again), then wakes itself and yields. It starts
///   children (as slots allow) before it polls again the ones that yielded,
///   so a yield lets the unstarted siblings run too.
/// * Polling it after it completed panics.
///
/// What it leaves to `TryGroup`: children of different types, pushing more
/// children once it runs (handles, `feed`), `settle`, streams,
/// `catch_panics`, `drain_on_error` and outside cancellation.
///
/// # Costs
///
/// A slot is a pinned box, made when no free one exists and reused by the
/// next child; under `with_limit(64)` there are at most 64. A child that is
/// `Ready` at once, or that only yields (wakes itself), needs nothing else.
/// A child that registers its waker with the outside world gets a waker of
/// its slot's own (made once per slot), and is polled once more with it
/// right away: the first poll's waker cannot tell which child it was.
///
/// `TryJoinIter<I>` is always `Unpin` (each child is pinned in its own
/// slot), and `Send` when `I`, its items and their outputs are.
#[must_use = "futures do nothing unless you `.await` or poll them; dropping it drops every child"]
pub struct TryJoinIter<I: Iterator>
where
    I::Item: TryFuture,
{
    /// `None` once exhausted, or once the group stopped.
    source: Option<I>,
    slots: Slots<I::Item>,
    limit: Option<NonZeroUsize>,
    /// Children taken from the iterator so far (the next index).
    accepted: usize,
    results: Results<<I::Item as TryFuture>::Ok>,
    token: OnceCell<CancelToken>,
    /// The first reason: set when the group ends (a token made later
    /// carries it).
    reason: Option<CancelReason>,
    /// Completed, or a poll unwound: polling again panics.
    done: bool,
}

impl<I: Iterator> TryJoinIter<I>
where
    I::Item: TryFuture,
{
    /// At most `limit` children in flight (started and not finished); the
    /// iterator is pulled only when one finishes.
    ///
    /// # Panics
    ///
    /// If `limit` is 0, which would never start a child.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// # futures::executor::block_on(async {
    /// let (running, peak) = (Cell::new(0), Cell::new(0));
    /// let children = (0..10).map(|i| {
    ///     let (running, peak) = (&running, &peak);
    ///     async move {
    ///         running.set(running.get() + 1);
    ///         peak.set(peak.get().max(running.get()));
    ///         smol::future::yield_now().await; // let the others run
    ///         running.set(running.get() - 1);
    ///         Ok::<_, ()>(i)
    ///     }
    /// });
    /// let values = trygroup::try_join_iter(children).with_limit(3).await;
    /// assert_eq!(values, Ok((0..10).collect::<Vec<_>>()));
    /// assert_eq!(peak.get(), 3);
    /// # });
    /// ```
    #[track_caller]
    pub fn with_limit(mut self, limit: usize) -> Self {
        let Some(limit) = NonZeroUsize::new(limit) else {
            panic!("trygroup: a limit of 0 would never start a child");
        };
        self.limit = Some(limit);
        self
    }

    /// The group's token: fires once, with the first reason (`Failed`,
    /// `Panicked`, `Finished` when the group completes, `Dropped` if it is
    /// dropped before). As with [`TryGroup::token`](crate::TryGroup::token),
    /// it always fires when the group ends: do not use it as the parent of
    /// work that must outlive the group.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::CancelReason;
    ///
    /// # futures::executor::block_on(async {
    /// let group = trygroup::try_join_iter((0..3).map(|i| async move {
    ///     if i == 1 { Err("no") } else { Ok(i) }
    /// }));
    /// let token = group.token();
    /// assert_eq!(group.await, Err("no"));
    /// assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
    /// # });
    /// ```
    pub fn token(&self) -> CancelToken {
        self.token
            .get_or_init(|| CancelToken::new(self.reason))
            .clone()
    }

    /// Children started and not finished.
    pub fn in_flight(&self) -> usize {
        self.slots.live()
    }

    /// Children taken from the iterator so far.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    fn has_slot(&self) -> bool {
        self.limit
            .is_none_or(|limit| self.slots.live() < limit.get())
    }

    /// Records `reason` as the first reason, and fires the token with it.
    fn fire(&mut self, reason: CancelReason) {
        if self.reason.is_some() {
            return;
        }
        self.reason = Some(reason);
        if let Some(token) = self.token.get() {
            token.fire(reason);
        }
    }

    /// Fires `reason`, drops every child, then the iterator. The first
    /// panic of a `Drop` is returned, to resume once everything is dropped.
    fn stop(&mut self, reason: CancelReason) -> Option<Payload> {
        self.fire(reason);
        self.done = true;
        let first = self.slots.drop_all();
        let source = self.source.take();
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(source)));
        first.or(dropped.err())
    }

    /// One poll: woken children first, then new ones while slots are free.
    fn run(&mut self, cx: &mut Context<'_>) -> Poll<Output<I>> {
        // Wakes from outside go ahead of children that only yield, so no
        // child waits more than one poll of the group.
        self.slots.take_woken();
        if self.accepted == 0 {
            // Room for the output, made once rather than grown, up to a
            // bound: an endless iterator says `usize::MAX`.
            let hint = self.source.as_ref().map_or(0, |s| s.size_hint().0);
            self.results.reserve_for(hint.min(RESERVE_MAX));
            // And for the slots a small batch needs (a large one grows them).
            let limit = self.limit.map_or(usize::MAX, NonZeroUsize::get);
            self.slots.reserve(hint.min(limit).min(SLOTS_RESERVED));
        }
        let mut pulls = self.pull_budget();
        let mut polls = BUDGET;
        loop {
            // Free slots first: a child that yields lets its siblings run,
            // and that includes the ones not started yet.
            let polled = if pulls > 0 && self.source.is_some() && self.has_slot() {
                let Some(child) = self.source.as_mut().and_then(Iterator::next) else {
                    self.source = None;
                    continue;
                };
                pulls -= 1;
                let index = self.accepted;
                self.accepted += 1;
                self.slots.start(index, child, cx)
            } else if let Some(slot) = self.slots.next_ready() {
                if polls == 0 {
                    self.slots.unready(slot);
                    return self.yield_now(cx);
                }
                polls -= 1;
                self.slots.poll(slot, cx)
            } else if self.source.is_some() && self.has_slot() {
                // Out of pulls, with room to start more.
                return self.yield_now(cx);
            } else if self.slots.live() == 0 {
                // No slot is taken, so there was room: the source is done.
                return Poll::Ready(Ok(self.finish()));
            } else if self.slots.park(cx.waker()) {
                return Poll::Pending;
            } else {
                continue;
            };
            match polled {
                Polled::Pending => {}
                Polled::Done(index, Outcome::Ok(value)) => self.results.store(index, value),
                Polled::Done(index, Outcome::Err(error)) => {
                    if let Some(panic) = self.stop(CancelReason::Failed { index }) {
                        resume_unwind(panic);
                    }
                    return Poll::Ready(Err(error));
                }
                Polled::Done(index, Outcome::Panic(payload)) => {
                    // The child's own panic wins over any of a `Drop`.
                    drop(self.stop(CancelReason::Panicked { index }));
                    resume_unwind(payload);
                }
            }
        }
    }

    /// Children one poll may start: [`BUDGET`] / 2, plus one per slot of the
    /// limit up to as many again, so a limited group refills every slot
    /// each poll (as `TryGroup` does).
    fn pull_budget(&self) -> u32 {
        let half = BUDGET / 2;
        half + self
            .limit
            .map_or(half, |l| l.get().min(half as usize) as u32)
    }

    /// Out of budget: wake itself and let the executor run something else.
    fn yield_now(&self, cx: &mut Context<'_>) -> Poll<Output<I>> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn finish(&mut self) -> Vec<<I::Item as TryFuture>::Ok> {
        self.fire(CancelReason::Finished);
        self.done = true;
        std::mem::take(&mut self.results).into_vec(self.accepted)
    }
}

// Nothing is pinned in place but the children, each in its own box: the
// iterator (only ever used through `&mut`), the values and the slots may
// move. (Auto traits would ask the iterator and the values to be `Unpin`.)
impl<I: Iterator> Unpin for TryJoinIter<I> where I::Item: TryFuture {}

impl<I: Iterator> Future for TryJoinIter<I>
where
    I::Item: TryFuture,
{
    type Output = Output<I>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "trygroup: `TryJoinIter` polled after it completed (or after its poll panicked)"
        );
        // Stays set if this poll unwinds (a panicking iterator).
        this.done = true;
        let poll = this.run(cx);
        if poll.is_pending() {
            this.done = false;
        }
        poll
    }
}

impl<I: Iterator> FusedFuture for TryJoinIter<I>
where
    I::Item: TryFuture,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<I: Iterator> Drop for TryJoinIter<I>
where
    I::Item: TryFuture,
{
    fn drop(&mut self) {
        if self.reason.is_some() {
            // It ended: children and iterator are gone already.
            return;
        }
        // Never polled, dropped mid-flight, or a poll unwound (a panicking
        // iterator): whatever is left goes, and the token says `Dropped`.
        if let Some(panic) = self.stop(CancelReason::Dropped) {
            if !std::thread::panicking() {
                resume_unwind(panic);
            }
        }
    }
}

impl<I: Iterator> fmt::Debug for TryJoinIter<I>
where
    I::Item: TryFuture,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryJoinIter")
            .field("in_flight", &self.slots.live())
            .field("accepted", &self.accepted)
            .field("limit", &self.limit.map(NonZeroUsize::get))
            .field("exhausted", &self.source.is_none())
            .field("done", &self.done)
            .finish()
    }
}
