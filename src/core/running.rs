//! The in-flight set: a few children inline, more in a `FuturesUnordered`
//! (each first polled outside it, see [`fresh`](super::fresh)).
//!
//! The everyday group has a handful of children ("fetch three things").
//! A `FuturesUnordered` costs two allocations to set up and one per child for
//! its task node, which is most of the cost of such a group. So the set starts
//! *small*: up to [`SMALL`] slots inline, each polled with the group's own
//! waker (as `try_join_all` does below 31 children). The first child beyond
//! that moves everything into the large set for good: a `FuturesUnordered`,
//! which polls only the children that were woken, and in front of it the
//! [`Fresh`] children, started and not polled yet, which enter the
//! `FuturesUnordered` only if their first poll is `Pending`.
//!
//! # Invariants
//!
//! * Small mode: `occupied` has bit `i` set iff `slots[i]` is `Some`, and
//!   occupied slots hold children in increasing push index (= start order)
//!   from slot 0 up, so the lowest bit is the earliest child, and growing
//!   hands them to `Fresh` in start order;
//!   `to_poll` is a subset of `occupied`: the children not yet polled in the
//!   current group poll. [`Running::begin_poll`] marks every child (they
//!   share the group's waker, so any of them may have been woken), and a
//!   child inserted mid-poll is marked too, so it is polled in the same poll
//!   without an outside wake. Each child is polled at most once per group
//!   poll, which bounds the work, lowest slot first, so children are first
//!   polled in the order they started (FIFO), as in the large set.
//! * Many mode: every child in `fresh` started after every child in `set`,
//!   and `fresh` is emptied, in order, before `set` is polled. Fresh
//!   children are polled inline only while every child in `set` has had its
//!   first poll; otherwise (the probe's direct mode) they join `set`
//!   unpolled, behind the others. So first polls stay FIFO there too. Many
//!   mode never goes back to small, except when [`Running::drain`] empties
//!   the set (teardown, `with_semaphore`).
//! * Many mode: `len` is `set.len() + fresh.len()` (asserted in debug
//!   builds). A child whose `Drop` panics as it finishes is gone without
//!   being counted out, but that panic tears the group down (`drain`), so
//!   nothing reads the count again.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use super::fresh::Fresh;
use super::slot::{Outcome, Slot};
use std::future::Future;

/// How many children are polled inline before moving to a `FuturesUnordered`.
const SMALL: usize = 4;

pub(crate) enum Running<C> {
    Small {
        slots: [Option<Slot<C>>; SMALL],
        occupied: u8,
        to_poll: u8,
    },
    Many {
        set: FuturesUnordered<Slot<C>>,
        /// Started, not polled yet: see [`fresh`](super::fresh).
        fresh: Fresh<C>,
        /// Children in `set` and `fresh`: counted here, because
        /// `FuturesUnordered::len` chases pointers and a limited group asks
        /// at every refill.
        len: usize,
    },
}

impl<C: Unpin> Running<C> {
    pub(crate) fn new() -> Self {
        Running::Small {
            slots: [const { None }; SMALL],
            occupied: 0,
            to_poll: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Running::Small { occupied, .. } => occupied.count_ones() as usize,
            Running::Many { set, fresh, len } => {
                debug_assert_eq!(*len, set.len() + fresh.len(), "trygroup bug: stale count");
                *len
            }
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, slot: Slot<C>) {
        match self {
            Running::Small {
                slots,
                occupied,
                to_poll,
            } => {
                // Slots stay in start order (= push index order) from slot 0
                // up: the new child goes above the highest occupied slot.
                let top = (u8::BITS - occupied.leading_zeros()) as usize;
                if top < SMALL {
                    fill(slots, occupied, to_poll, top, slot);
                } else if let Some(fresh) = compact_or_grow(slots, occupied, to_poll, slot) {
                    *self = Running::Many {
                        set: FuturesUnordered::new(),
                        len: fresh.len(),
                        fresh: Fresh::new(fresh),
                    };
                }
            }
            Running::Many { fresh, len, .. } => {
                fresh.push(slot);
                *len += 1;
            }
        }
    }

    /// Start of a group poll: in small mode, every child is due a poll.
    #[inline]
    pub(crate) fn begin_poll(&mut self) {
        if let Running::Small {
            occupied, to_poll, ..
        } = self
        {
            *to_poll = *occupied;
        }
    }

    /// Runs `f` on every in-flight slot.
    pub(crate) fn for_each(&self, f: impl FnMut(&Slot<C>)) {
        match self {
            Running::Small { slots, .. } => slots.iter().flatten().for_each(f),
            Running::Many { set, fresh, .. } => fresh.iter().chain(set.iter()).for_each(f),
        }
    }

    /// Takes every slot out, by value, in no particular order: the set is
    /// empty at once, and the slots not yet taken live in the iterator.
    pub(crate) fn drain(&mut self) -> Drain<C> {
        match std::mem::replace(self, Running::new()) {
            Running::Small { slots, .. } => Drain::Small(slots.into_iter().flatten()),
            Running::Many { set, fresh, .. } => Drain::Many(fresh.into_iter().chain(set)),
        }
    }
}

/// [`Running::drain`]'s iterator. Taking a slot out never panics, so a
/// panicking `Drop` of one slot leaves the rest here, to be taken next.
pub(crate) enum Drain<C: Unpin> {
    Small(std::iter::Flatten<std::array::IntoIter<Option<Slot<C>>, SMALL>>),
    Many(
        std::iter::Chain<
            std::collections::vec_deque::IntoIter<Slot<C>>,
            futures_util::stream::futures_unordered::IntoIter<Slot<C>>,
        >,
    ),
}

impl<C: Unpin> Iterator for Drain<C> {
    type Item = Slot<C>;

    #[inline]
    fn next(&mut self) -> Option<Slot<C>> {
        match self {
            Drain::Small(slots) => slots.next(),
            Drain::Many(set) => set.next(),
        }
    }
}

impl<T, E, C> Running<C>
where
    C: Future<Output = Result<T, E>> + Unpin + super::slot::Placeholder,
{
    /// The next finished child, `Pending` if none is ready, `None` if empty.
    #[inline]
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(usize, Outcome<T, E>)>> {
        match self {
            Running::Many { set, fresh, len } => {
                if fresh.len() != 0 {
                    if let Some(out) = fresh.poll_into(set) {
                        *len -= 1;
                        return Poll::Ready(Some(out));
                    }
                }
                let next = Pin::new(set).poll_next(cx);
                if let Poll::Ready(Some(_)) = &next {
                    *len -= 1;
                }
                next
            }
            Running::Small {
                slots,
                occupied,
                to_poll,
            } => {
                if *occupied == 0 {
                    return Poll::Ready(None);
                }
                while *to_poll != 0 {
                    // Lowest slot = lowest push index = earliest start: FIFO.
                    let i = to_poll.trailing_zeros() as usize;
                    *to_poll &= !(1 << i);
                    let slot = slots[i].as_mut().expect("to_poll ⊆ occupied");
                    if let Poll::Ready(out) = slot.poll_child(cx) {
                        // Free the slot before dropping the child: its
                        // `Drop` may panic (and `out` unwinds with us).
                        let done = slots[i].take();
                        *occupied &= !(1 << i);
                        drop(done);
                        return Poll::Ready(Some(out));
                    }
                }
                Poll::Pending
            }
        }
    }
}

/// `push` in small mode when the top inline slot is taken: compacts the
/// slots and fills the first free one, or, if all are taken, returns them
/// and `slot`, in start order, to become the fresh children of the large set
/// (so first polls stay FIFO; one already polled is polled again, which is
/// harmless).
fn compact_or_grow<C>(
    slots: &mut [Option<Slot<C>>; SMALL],
    occupied: &mut u8,
    to_poll: &mut u8,
    slot: Slot<C>,
) -> Option<VecDeque<Slot<C>>> {
    if occupied.count_ones() as usize == SMALL {
        let mut fresh: VecDeque<Slot<C>> = slots.iter_mut().filter_map(Option::take).collect();
        fresh.push_back(slot);
        return Some(fresh);
    }
    let top = compact(slots, occupied, to_poll);
    fill(slots, occupied, to_poll, top, slot);
    None
}

/// Puts a newly started child in the free slot `i`, due a poll at once.
#[inline]
fn fill<C>(
    slots: &mut [Option<Slot<C>>; SMALL],
    occupied: &mut u8,
    to_poll: &mut u8,
    i: usize,
    slot: Slot<C>,
) {
    slots[i] = Some(slot);
    *occupied |= 1 << i;
    *to_poll |= 1 << i;
}

/// Moves the occupied slots down to `0..len`, keeping their order and their
/// `to_poll` marks; returns `len`, the first free slot.
fn compact<C>(slots: &mut [Option<Slot<C>>; SMALL], occupied: &mut u8, to_poll: &mut u8) -> usize {
    let (mut len, mut packed_occupied, mut packed_to_poll) = (0, 0u8, 0u8);
    for i in 0..SMALL {
        if *occupied & (1 << i) != 0 {
            slots.swap(len, i);
            packed_occupied |= 1 << len;
            if *to_poll & (1 << i) != 0 {
                packed_to_poll |= 1 << len;
            }
            len += 1;
        }
    }
    *occupied = packed_occupied;
    *to_poll = packed_to_poll;
    len
}
