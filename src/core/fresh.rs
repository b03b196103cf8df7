//! First polls outside the `FuturesUnordered`: children that have just
//! started, in the large set.
//!
//! A child in a `FuturesUnordered` costs a task node: an allocation, a link
//! into its list, a trip through its ready queue and atomic reference counts,
//! about half of what a child costs in all (W1 in BENCHMARKS.md). A child that
//! finishes at its first poll needs none of that. So a started child waits
//! here, in start order, and the next poll of the group polls it once, inline,
//! before it enters the set:
//!
//! * `Ready`: done; the child never had a task node.
//! * `Pending`: it goes into the set, which polls it again before anything
//!   can be missed (a new task starts in the set's ready queue), now with the
//!   set's waker for that child. So the waker of the inline poll needs to
//!   wake nobody; it only tells the [`Probe`] what the child did with it.
//!
//! That second poll is the price of a child that pends at its first poll.
//! It is small for a child that wakes itself (a yield: the set's poll finds
//! it ready) or that pends without touching the waker, but a child waiting
//! for the outside world (I/O, a timer, a channel) registers the waker, and
//! then pays for registering twice, and for the I/O attempt twice. When one
//! does that, the next are likely to, so the fresh children go into the set
//! unpolled from then on, until the set is empty again.
//!
//! Why not sample one child in so many meanwhile: a sample would have its
//! first poll before the children moved into the set ahead of it have had
//! theirs, and first polls must stay in start order. Once the set is empty,
//! no child is waiting there for its first poll, and inline polls resume.
//!
//! The probe is only a guess about cost: whatever it says, every child is
//! first polled in start order and every pending child ends up in the set.

use std::collections::VecDeque;
use std::future::Future;
use std::task::{Context, Poll};

use futures_util::stream::FuturesUnordered;

use super::slot::{Outcome, Placeholder, Slot};
use crate::probe::Probe;

/// A buffer this large or smaller is kept once it empties, for the next
/// children; a larger one goes back (the children now live in the set).
const KEEP: usize = 64;

/// Children started, not polled yet, in start order.
pub(crate) struct Fresh<C> {
    slots: VecDeque<Slot<C>>,
    /// Made with the large set (one allocation per group that grows).
    probe: Probe,
    /// A child waited for the outside world at its inline poll: the next go
    /// into the set unpolled, until the set is empty.
    direct: bool,
}

impl<C> Fresh<C> {
    pub(crate) fn new(slots: VecDeque<Slot<C>>) -> Self {
        Fresh {
            slots,
            probe: Probe::new(),
            direct: false,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    pub(crate) fn push(&mut self, slot: Slot<C>) {
        self.slots.push_back(slot);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Slot<C>> {
        self.slots.iter()
    }

    pub(crate) fn into_iter(self) -> std::collections::vec_deque::IntoIter<Slot<C>> {
        self.slots.into_iter()
    }
}

impl<T, E, C> Fresh<C>
where
    C: Future<Output = Result<T, E>> + Unpin + Placeholder,
{
    /// Takes the fresh children in start order: polls each inline (or, while
    /// the probe says it does not pay, moves it on unpolled) until one
    /// finishes, whose outcome is returned; the pending ones go into `set`.
    /// Called only with fresh children, before `set` is polled.
    #[inline]
    pub(crate) fn poll_into(
        &mut self,
        set: &mut FuturesUnordered<Slot<C>>,
    ) -> Option<(usize, Outcome<T, E>)> {
        if self.direct {
            // An empty set ends it: no child waits there for a first poll.
            if !set.is_empty() {
                self.move_all(set);
                return None;
            }
            self.direct = false;
        }
        while let Some(mut slot) = self.slots.pop_front() {
            if let Poll::Ready(out) = self.first_poll(&mut slot) {
                // Drop the child before handing its outcome on (see `slot`).
                drop(slot);
                return Some(out);
            }
            set.push(slot);
            if self.direct {
                // This child waits for the outside world: the rest go unpolled.
                self.move_all(set);
                return None;
            }
        }
        self.give_back();
        None
    }

    /// Direct mode: every fresh child joins the set unpolled, in order (one
    /// tight loop, not a mode test per child).
    #[inline]
    fn move_all(&mut self, set: &mut FuturesUnordered<Slot<C>>) {
        while let Some(slot) = self.slots.pop_front() {
            set.push(slot);
        }
        self.give_back();
    }

    /// An empty buffer larger than [`KEEP`] goes back.
    #[inline]
    fn give_back(&mut self) {
        if self.slots.capacity() > KEEP {
            self.slots = VecDeque::new();
        }
    }

    /// One inline poll, and what it says about the next children.
    #[inline]
    fn first_poll(&mut self, slot: &mut Slot<C>) -> Poll<(usize, Outcome<T, E>)> {
        let probe = &self.probe;
        let armed = probe.arm();
        let poll = slot.poll_child(&mut Context::from_waker(probe.waker()));
        if poll.is_pending() {
            // Kept a clone of the waker (registered it) and did not wake it:
            // it waits for the outside world.
            self.direct = probe.kept(armed) && !probe.woken();
        }
        poll
    }
}
