//! The engine shared by every group flavour and every way of awaiting one.
//!
//! This file holds the state, accepting children and polling them;
//! [`refill`] starts queued and lazy children, [`stop`] handles the first
//! reason and every teardown, [`extras`] the parts only some groups use,
//! [`running`] the in-flight set, [`fresh`] the first polls of its large
//! mode, [`slot`] one in-flight child and
//! [`results`] the values in push order.
//!
//! # Architecture
//!
//! A child moves through these states:
//!
//! ```text
//!  push / try_push ──┐                       ┌──> done: value stored, child dropped at once
//!  lazy source pull ─┼──> queued ──> in flight ┤
//!  Handle::push ──> inbox ──┘ (taken in at     └──> dropped: the group stopped or was dropped
//!                            the next poll)
//! ```
//!
//! * A child gets its index when the group *accepts* it: direct pushes at once,
//!   lazy pulls when pulled, handle pushes when the group takes them out of the
//!   [`Inbox`] at its next poll.
//! * An accepted child goes straight in flight (into `running`: a few inline
//!   slots, then a `FuturesUnordered`, see [`running`]) when a slot is free
//!   and nobody is queued ahead of it; else it waits in `queue`, FIFO. With a shared semaphore every start goes
//!   through the queue, because permits are only taken while the group is
//!   polled.
//! * Who wakes whom: children wake `running`, which wakes the group's task;
//!   handle pushes and `Handle::cancel` wake the inbox's waker cell, which the
//!   group registers at every poll (a group without handles has no inbox); triggers, sources and the semaphore
//!   wait are polled with the group's own context. A finished child frees its
//!   slot (and permit) inside the same poll, and [`Core::refill`] starts the
//!   next one there and then: no extra wake from outside is needed.
//! * When the first reason arrives ([`Core::fire`]), [`Core::stop`] closes the
//!   inbox and drops everything not yet started; in-flight children are
//!   dropped too, or, with `drain_on_error`, polled to the end. The phase then
//!   becomes `Ended` and the frontend (future, settle, stream) builds its
//!   output from the first reason.
//!
//! # Invariants
//!
//! * `running.len() <= limit` at every instant: [`Core::has_slot`] or the
//!   free-slot count a refill starts from guards every insertion, and
//!   lowering the limit never inserts.
//! * `reason` is the group's first reason; once set it never changes, and the
//!   token (if one was made) carries the same value.
//! * Outside `Phase::Running`, nothing is accepted or started.
//! * Every child is dropped exactly once: when it finishes, before its outcome
//!   is handed on (see [`slot`]), or by `drop_each` / `Core::teardown_into`
//!   (in [`stop`]), which catch a panicking `Drop` so the rest are still
//!   dropped, and re-raise the first such panic afterwards.

mod extras;
mod fresh;
mod refill;
mod results;
mod running;
mod slot;
mod stop;

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Waker};

use async_lock::{futures::AcquireArc, Semaphore, SemaphoreGuardArc};
use futures_core::Stream;

pub(crate) use results::Results;
pub(crate) use slot::{Outcome, Payload, Placeholder};

use crate::inbox::{Inbox, IntoCancelled};
use crate::kind::Kind;
use crate::sync::{Arc, Ordering};
use crate::{CancelReason, CancelToken, Cancelled, Panicked};
use extras::Extras;
use running::Running;
use slot::Slot;
use stop::rethrow;

/// How many children may complete (or batches of handle pushes be taken in),
/// and how many lazy items may be pulled (plus one per slot of the limit, up
/// to as many again), in one poll of the group before it yields (wakes
/// itself, returns `Pending`).
const BUDGET: u32 = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting and starting children.
    Running,
    /// Stopped with `drain_on_error`: in-flight children run to the end.
    Draining,
    /// Nothing left to poll; the frontend builds its output.
    Ended,
    /// The output was returned (or `poll` unwound): polling again panics.
    Done,
}

// Written out, not inferred, because the `Drop` impl must repeat them.
#[allow(explicit_outlives_requirements)]
pub(crate) struct Core<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> {
    running: Running<K::Child>,
    /// True while `push` may put a child straight in flight without looking
    /// further: running, no reason, no token, no limit, no extras, never
    /// parked. Cleared for good by the first of those (see `clear_plain`);
    /// false is always safe, it only sends pushes down the general path.
    plain: Cell<bool>,
    next_index: usize,
    /// Never zero (`set_limit` refuses it), so the `Option` costs no tag.
    limit: Option<NonZeroUsize>,
    /// The waker of the last poll: woken by `push`/`set_limit` between polls,
    /// and registered in an inbox created after the group was polled.
    waker: Option<Waker>,
    token: OnceCell<CancelToken>,
    inbox: OnceCell<Arc<Inbox<'a, T, E, K>>>,
    /// Everything only some groups use, made on first use: `None` keeps a
    /// plain group small to move and cheap to drop, and lets one check say
    /// "no queue, no sources, no triggers, no semaphore".
    extras: Option<Box<Extras<'a, T, E, K>>>,
    reason: Option<CancelReason>,
    phase: Phase,
    completions_left: u32,
    pulls_left: u32,
    pub(crate) drain_on_error: bool,
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Core<'a, T, E, K> {
    pub(crate) fn new() -> Self {
        Core {
            running: Running::new(),
            plain: Cell::new(true),
            next_index: 0,
            limit: None,
            waker: None,
            token: OnceCell::new(),
            inbox: OnceCell::new(),
            extras: None,
            reason: None,
            phase: Phase::Running,
            completions_left: BUDGET,
            pulls_left: BUDGET,
            drain_on_error: false,
        }
    }

    /// The extras, made now if this is their first use.
    fn extras(&mut self) -> &mut Extras<'a, T, E, K> {
        self.clear_plain();
        self.extras.get_or_insert_with(Box::default)
    }

    #[inline]
    fn queue_is_empty(&self) -> bool {
        self.extras.as_ref().is_none_or(|x| x.queue.is_empty())
    }

    #[inline]
    fn has_semaphore(&self) -> bool {
        self.extras.as_ref().is_some_and(|x| x.semaphore.is_some())
    }

    /// Neither queued children nor lazy sources: nothing to refill from.
    #[inline]
    fn nothing_waiting(&self) -> bool {
        self.extras
            .as_ref()
            .is_none_or(|x| x.queue.is_empty() && x.sources.is_empty())
    }

    /// `settle` mode: remember which children are dropped unfinished.
    pub(crate) fn track_dropped(&mut self) {
        self.extras().dropped = Some(Vec::new());
    }

    /// The indices of children dropped unfinished (`settle` mode).
    pub(crate) fn take_dropped(&mut self) -> Vec<usize> {
        self.extras
            .as_mut()
            .and_then(|x| x.dropped.take())
            .unwrap_or_default()
    }

    // ---- accessors -------------------------------------------------------

    pub(crate) fn token(&self) -> &CancelToken {
        self.token.get_or_init(|| {
            self.clear_plain();
            CancelToken::new(self.reason)
        })
    }

    pub(crate) fn inbox(&self) -> &Arc<Inbox<'a, T, E, K>> {
        self.inbox.get_or_init(|| {
            let inbox = Inbox::new(self.token().clone(), !self.open());
            if let Some(waker) = &self.waker {
                inbox.waker.register(waker);
            }
            Arc::new(inbox)
        })
    }

    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The first reason, as the group or (if it has not looked yet) the token knows it.
    pub(crate) fn reason(&self) -> Option<CancelReason> {
        self.reason.or_else(|| self.token.get()?.reason())
    }

    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit.map(NonZeroUsize::get)
    }

    /// `catch_panics`: a child's panic becomes `into(Panicked)`.
    pub(crate) fn set_panicked_into(&mut self, into: fn(Panicked) -> E) {
        self.extras().panicked_into = Some(into);
    }

    pub(crate) fn panicked_into(&self) -> Option<fn(Panicked) -> E> {
        self.extras.as_ref()?.panicked_into
    }

    /// An outside cancel becomes `into(Cancelled)`.
    pub(crate) fn set_cancelled_into(&mut self, into: IntoCancelled<E>) {
        self.extras().cancelled_into = Some(into);
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.running.len()
    }

    pub(crate) fn queued(&self) -> usize {
        self.extras.as_ref().map_or(0, |x| x.queue.len())
            + self.inbox.get().map_or(0, |inbox| inbox.len())
    }

    /// How many children were accepted so far (the next push index).
    pub(crate) fn accepted(&self) -> usize {
        self.next_index
    }

    // ---- building --------------------------------------------------------

    #[track_caller]
    pub(crate) fn set_limit(&mut self, limit: Option<usize>) {
        assert!(
            limit != Some(0),
            "trygroup: a limit of 0 would never start a child; use None for no limit"
        );
        self.clear_plain();
        self.limit = limit.and_then(NonZeroUsize::new);
        self.wake();
    }

    pub(crate) fn set_semaphore(&mut self, semaphore: StdArc<Semaphore>) {
        // Children accepted so far went in flight without a permit; send them
        // back to the queue so each takes one when the group is polled.
        let mut back: Vec<(usize, K::Child)> = self
            .running
            .drain()
            .map(|slot| (slot.index, slot.into_child()))
            .collect();
        back.sort_by_key(|(index, _)| *index);
        let extras = self.extras();
        extras.semaphore = Some(semaphore);
        for child in back.into_iter().rev() {
            extras.queue.push_front(child);
        }
    }

    pub(crate) fn add_trigger(&mut self, reason: CancelReason, trigger: K::Trigger) {
        if self.phase != Phase::Done {
            self.extras().triggers.push((reason, trigger));
        }
    }

    /// Whether the group takes new children: not stopped, not finished, and
    /// not cancelled from outside since its last poll (rule 12).
    #[inline]
    fn open(&self) -> bool {
        self.phase == Phase::Running
            && self.reason.is_none()
            && !self.token.get().is_some_and(CancelToken::is_cancelled)
    }

    #[track_caller]
    fn assert_not_done(&self, what: &str) {
        assert!(
            self.phase != Phase::Done,
            "trygroup: `{what}` called on a group that already completed"
        );
    }

    /// `push`: accept `child`, or drop it unpolled if the group has stopped.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn push(&mut self, child: K::Child) {
        // The everyday case: a plain group, not polled yet.
        debug_assert!(
            !self.plain.get() || self.is_plain(),
            "trygroup bug: stale `plain`"
        );
        if self.plain.get() {
            let index = self.next_index();
            self.running.push(Slot::new(index, child));
        } else {
            self.push_slow(child);
        }
    }

    /// What `plain` promises, checked in full.
    fn is_plain(&self) -> bool {
        self.phase == Phase::Running
            && self.reason.is_none()
            && self.token.get().is_none()
            && self.limit.is_none()
            && self.extras.is_none()
            && self.waker.is_none()
    }

    #[inline]
    fn clear_plain(&self) {
        self.plain.set(false);
    }

    fn set_phase(&mut self, phase: Phase) {
        self.clear_plain();
        self.phase = phase;
    }

    #[track_caller]
    fn push_slow(&mut self, child: K::Child) {
        self.assert_not_done("push");
        if self.open() {
            let index = self.next_index();
            self.accept(index, child);
            self.wake();
        }
    }

    /// `try_push`: whether a child could start right now, without queueing.
    /// With a semaphore that means taking a permit now: the one exception to
    /// "permits are taken only while polled", as `TryGo` promises a start.
    pub(crate) fn try_reserve(&mut self) -> Option<Option<SemaphoreGuardArc>> {
        let idle = self.open()
            && self.has_slot()
            && self.queue_is_empty()
            && self.inbox.get().is_none_or(|inbox| inbox.len() == 0);
        if !idle {
            return None;
        }
        match self.extras.as_ref().and_then(|x| x.semaphore.as_ref()) {
            None => Some(None),
            Some(semaphore) => semaphore.try_acquire_arc().map(Some),
        }
    }

    pub(crate) fn start_reserved(&mut self, child: K::Child, permit: Option<SemaphoreGuardArc>) {
        let index = self.next_index();
        self.start(index, child, permit);
        self.wake();
    }

    #[track_caller]
    pub(crate) fn feed(&mut self, source: K::Source) {
        self.assert_not_done("feed");
        if self.open() {
            self.extras().sources.push_back(source);
            self.wake();
        }
    }

    #[inline]
    fn next_index(&mut self) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    #[inline]
    fn has_slot(&self) -> bool {
        self.free_slots() > 0
    }

    /// How many more children may be in flight now.
    #[inline]
    fn free_slots(&self) -> usize {
        self.limit.map_or(usize::MAX, |limit| {
            limit.get().saturating_sub(self.running.len())
        })
    }

    #[inline]
    fn accept(&mut self, index: usize, child: K::Child) {
        if self.queue_is_empty() && !self.has_semaphore() && self.has_slot() {
            self.running.push(Slot::new(index, child));
        } else {
            self.extras().queue.push_back((index, child));
        }
    }

    #[inline]
    fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    // ---- polling ---------------------------------------------------------

    /// Asserts the group is still live (rule 7).
    #[inline]
    #[track_caller]
    pub(crate) fn assert_pollable(&self, what: &'static str) {
        if self.phase == Phase::Done {
            polled_after_done(what);
        }
    }

    /// Start of one poll of the group: refresh wakers, look at the outside
    /// world (handle cancels, triggers), take in handle pushes. Free slots
    /// are filled by the first [`poll_next`](Self::poll_next), which every
    /// frontend calls next.
    #[inline]
    pub(crate) fn begin_poll(&mut self, cx: &mut Context<'_>) {
        self.completions_left = BUDGET;
        // Room for refilling every free slot, on top of one pull per
        // completion: else a limited group stops pulling half-way through
        // its completions and frees pile up unpaired with allocations.
        self.pulls_left = BUDGET
            + self
                .limit
                .map_or(0, |l| l.get().min(BUDGET as usize) as u32);
        self.running.begin_poll();
        // Only handles, a token, triggers or an early reason need a look at
        // the outside world; a queue or lazy sources only need a refill.
        // (A group with handles has a token: the inbox holds a clone.)
        let quiet = self.token.get().is_none()
            && self.reason.is_none()
            && self.extras.as_ref().is_none_or(|x| x.triggers.is_empty());
        if !quiet {
            self.begin_poll_slow(cx);
        }
    }

    /// `begin_poll` for a group with a token, handles or triggers.
    #[inline(never)]
    fn begin_poll_slow(&mut self, cx: &mut Context<'_>) {
        if let Some(inbox) = self.inbox.get() {
            inbox.waker.register(cx.waker());
        }
        self.look_outside(cx);
        if self.phase == Phase::Running && self.reason.is_some() {
            // Fired before the first poll, e.g. `with_parent` on a fired parent.
            self.stop();
        }
        self.take_in();
    }

    fn look_outside(&mut self, cx: &mut Context<'_>) {
        if self.phase == Phase::Running {
            if let Some(reason) = self.token.get().and_then(CancelToken::reason) {
                if reason.is_outside() {
                    self.outside(reason);
                }
            }
        }
        if let Some(inbox) = self.inbox.get() {
            let late = inbox.late_cancels.load(Ordering::Acquire);
            let seen = self.extras.as_ref().map_or(0, |x| x.late_cancels_seen);
            if late != seen {
                self.extras().late_cancels_seen = late;
                self.outside(CancelReason::Cancelled);
            }
        }
        let mut i = 0;
        while let Some(triggers) = self.extras.as_mut().map(|x| &mut x.triggers) {
            let Some((_, trigger)) = triggers.get_mut(i) else {
                break;
            };
            if Pin::new(trigger).poll(cx).is_ready() {
                let (reason, trigger) = triggers.swap_remove(i);
                drop(trigger);
                self.outside(reason);
            } else {
                i += 1;
            }
        }
    }

    /// Moves handle pushes into the group, numbering them. True if any came.
    #[inline]
    fn take_in(&mut self) -> bool {
        if self.inbox.get().is_none() {
            return false;
        }
        self.take_in_slow()
    }

    #[inline(never)]
    fn take_in_slow(&mut self) -> bool {
        if self.phase != Phase::Running {
            return false;
        }
        let Some(inbox) = self.inbox.get() else {
            return false;
        };
        let children = inbox.take();
        let any = !children.is_empty();
        for child in children {
            let index = self.next_index();
            self.accept(index, child);
        }
        any
    }

    /// The next child outcome, or `None` once nothing is left to poll.
    #[inline]
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(usize, Outcome<T, E>)>> {
        loop {
            if self.completions_left == 0 {
                cx.waker().wake_by_ref();
                self.park(cx);
                return Poll::Pending;
            }
            // Refill here, after the frontend saw the last outcome: if it was
            // the first error, the group has stopped and nothing new starts.
            self.refill(cx);
            // `Pending` means children are in flight, `None` that none are.
            let none_running = match self.running.poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    self.completions_left -= 1;
                    return Poll::Ready(Some(item));
                }
                Poll::Ready(None) => true,
                Poll::Pending => false,
            };
            if self.take_in() {
                // Charged like a completion: children that push children
                // through a handle on every poll must not hold the thread.
                self.completions_left -= 1;
                continue;
            }
            if !none_running {
                self.park(cx);
                return Poll::Pending;
            }
            // Nothing in flight. `Ended` is only ever entered with nothing in
            // flight, so it is checked here, off the path of every completion.
            match self.phase {
                Phase::Ended => return Poll::Ready(None),
                Phase::Draining => {
                    let mut panic = None;
                    self.end_into(&mut panic);
                    rethrow(panic);
                    return Poll::Ready(None);
                }
                Phase::Running if self.nothing_waiting() => {
                    let closed = self.inbox.get().is_none_or(|inbox| inbox.close_if_empty());
                    if closed {
                        let mut panic = None;
                        self.end_into(&mut panic);
                        rethrow(panic);
                        return Poll::Ready(None);
                    }
                }
                // Waiting for a permit or a pending source, both registered.
                _ => {
                    self.park(cx);
                    return Poll::Pending;
                }
            }
        }
    }

    /// The group is about to return `Pending`: keep its waker, for pushes
    /// and limit changes between polls and for an inbox made later. Not done
    /// on a poll that completes the group, which never needs it.
    #[inline]
    fn park(&mut self, cx: &Context<'_>) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.clear_plain();
            self.waker = Some(cx.waker().clone());
        }
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> fmt::Debug for Core<'a, T, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("in_flight", &self.in_flight())
            .field("queued", &self.queued())
            .field(
                "lazy_sources",
                &self.extras.as_ref().map_or(0, |x| x.sources.len()),
            )
            .field("limit", &self.limit())
            .field("reason", &self.reason())
            .field("phase", &self.phase)
            .finish()
    }
}

/// The panic of a group polled after it completed; out of line, so a poll
/// does not build the message's arguments.
#[cold]
#[inline(never)]
#[track_caller]
fn polled_after_done(what: &str) -> ! {
    panic!("trygroup: `{what}` polled after it completed (or after its poll panicked)")
}
