//! Where [`TryJoinIter`](super::TryJoinIter)'s children live and who wakes
//! them.
//!
//! Each child is polled in place in a slot: a pinned box that outlives the
//! child and is reused by the next one, so once the slots exist a child
//! costs no allocation. (A pinned box per slot, not one buffer of them:
//! handing out `Pin<&mut F>` into a buffer would take `unsafe` code.) A
//! group under `with_limit(64)` makes at most 64 slots, whatever N is.
//!
//! Wakers, cheapest first:
//!
//! * A child's first poll gets the [`Probe`]. If it finishes, or wakes the
//!   probe and keeps no clone of it (a yield: it goes on the local `ready`
//!   list and is polled again), it never needs a waker of its own. If it
//!   keeps no clone and does not wake it, nothing can ever wake it: it is
//!   left alone until the group ends (W3's children that pend forever).
//!   The probe is made when a first poll first pends: until then first
//!   polls use the group's own waker (a group whose children all finish at
//!   once needs no probe), and that first child to pend, whose use of the
//!   waker cannot be told, is polled again at once with its slot's waker.
//! * If it kept a clone, it waits for the outside world: it is polled again
//!   at once with its slot's own waker, and so is every child after it,
//!   from its first poll on, until the group runs empty (the probe's
//!   "direct" mode, as in the large set of [`TryGroup`](crate::TryGroup)).
//! * A slot's waker is made the first time a child in the slot needs one,
//!   and kept for the children after it. It puts the slot's number on the
//!   shared `woken` list, at most once until the group takes it, and wakes
//!   the group's task.
//!
//! The probe's clone count is only exact if nobody else holds a clone, so a
//! probe that was ever kept is replaced before its next use.
//!
//! A wake may be stale (meant for the child that had the slot before): the
//! slot's new child is then polled once for nothing, which `Future` allows.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::TryFuture;

use crate::core::{Outcome, Payload};
use crate::probe::Probe;

/// The slots, the local ready list and the shared wake list.
pub(super) struct Slots<F> {
    slots: Vec<Slot<F>>,
    /// The last slot freed (its memory is the warmest), or [`NONE`]; an
    /// empty slot's `index` links to the one freed before it.
    free: usize,
    /// Slots to poll, in the order they were woken.
    ready: VecDeque<usize>,
    /// Children in slots, finished or dropped ones not counted.
    live: usize,
    /// Made at the first child that pends at its first poll.
    probe: Option<Probe>,
    /// A child kept the probe: the next ones start with their slot's waker.
    direct: bool,
    /// Made with the first slot waker.
    shared: Option<Arc<Shared>>,
}

/// The end of the free list.
const NONE: usize = usize::MAX;

struct Slot<F> {
    child: Pin<Box<Option<F>>>,
    /// The child's index in iterator order; in an empty slot, the next free
    /// slot.
    index: usize,
    waker: Option<SlotWaker>,
    /// The child has been polled with `waker`: it gets it from now on.
    registered: bool,
}

struct SlotWaker {
    wake: Arc<SlotWake>,
    waker: Waker,
}

/// What a slot's waker points to.
struct SlotWake {
    slot: usize,
    /// On `Shared::woken` already (cleared when the group takes it off).
    queued: AtomicBool,
    shared: Arc<Shared>,
}

/// The slots woken from outside, and the group's waker.
#[derive(Default)]
struct Shared {
    /// `woken.slots` may be non-empty: the group need not lock to find out
    /// it is empty (`park` locks before it sleeps, so no wake is missed).
    any: AtomicBool,
    woken: Mutex<Woken>,
}

#[derive(Default)]
struct Woken {
    slots: Vec<usize>,
    group: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Woken> {
        // Every critical section is a push or a swap: nothing a panic can
        // leave half done.
        self.woken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Wake for SlotWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let group = {
            let mut woken = self.shared.lock();
            woken.slots.push(self.slot);
            self.shared.any.store(true, Ordering::Release);
            woken.group.take()
        };
        // Outside the lock: a waker may run arbitrary code.
        if let Some(group) = group {
            group.wake();
        }
    }
}

/// What a poll of one child gave.
pub(super) enum Polled<T, E> {
    Pending,
    /// The child finished and is dropped; its index and outcome.
    Done(usize, Outcome<T, E>),
}

impl<F> Slots<F> {
    pub(super) fn new() -> Self {
        Slots {
            slots: Vec::new(),
            free: NONE,
            ready: VecDeque::new(),
            live: 0,
            probe: None,
            direct: false,
            shared: None,
        }
    }

    /// Room for `n` slots, asked before the first child starts: one plain
    /// allocation rather than the grow path (half the cost of a group of
    /// three).
    pub(super) fn reserve(&mut self, n: usize) {
        if self.slots.capacity() == 0 {
            self.slots = Vec::with_capacity(n);
        }
    }

    /// Children in slots.
    #[inline]
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// The next slot to poll: the local ready list, then (once it is empty)
    /// whatever was woken from outside. `None` if nothing is.
    #[inline]
    pub(super) fn next_ready(&mut self) -> Option<usize> {
        if let Some(slot) = self.ready.pop_front() {
            return Some(slot);
        }
        let any = self
            .shared
            .as_ref()
            .is_some_and(|shared| shared.any.load(Ordering::Acquire));
        if any && self.take_woken() {
            return self.ready.pop_front();
        }
        None
    }

    /// Puts `slot` back at the head of the ready list (out of budget).
    pub(super) fn unready(&mut self, slot: usize) {
        self.ready.push_front(slot);
    }

    /// Moves the slots woken from outside to the ready list; true if any.
    pub(super) fn take_woken(&mut self) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        if !shared.any.load(Ordering::Acquire) {
            return false;
        }
        let mut woken = shared.lock();
        shared.any.store(false, Ordering::Relaxed);
        if woken.slots.is_empty() {
            return false;
        }
        for slot in woken.slots.drain(..) {
            if let Some(waker) = &self.slots[slot].waker {
                // Before the poll: a wake from now on is a new one.
                waker.wake.queued.store(false, Ordering::Release);
            }
            self.ready.push_back(slot);
        }
        true
    }

    /// About to return `Pending`: the group's waker, for slot wakers to
    /// wake. False if something was woken meanwhile (poll on instead).
    pub(super) fn park(&mut self, group: &Waker) -> bool {
        let Some(shared) = &self.shared else {
            // No slot waker exists: nothing outside can wake a child.
            return true;
        };
        let mut woken = shared.lock();
        if !woken.slots.is_empty() {
            return false;
        }
        let old = match &woken.group {
            Some(old) if old.will_wake(group) => None,
            _ => woken.group.replace(group.clone()),
        };
        drop(woken);
        // Outside the lock: dropping a waker may run arbitrary code.
        drop(old);
        true
    }

    /// Drops every child (each exactly once, even if some `Drop`s panic),
    /// returning the first panic. The slots stay, empty.
    pub(super) fn drop_all(&mut self) -> Option<Payload> {
        let mut first = None;
        for slot in &mut self.slots {
            if slot.child.is_some() {
                let child = &mut slot.child;
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| child.set(None))) {
                    first.get_or_insert(payload);
                }
            }
        }
        self.live = 0;
        self.ready.clear();
        first
    }
}

/// One poll of a child, catching a panic.
#[inline(always)]
fn poll_child<F: TryFuture>(child: Pin<&mut F>, waker: &Waker) -> Poll<Outcome<F::Ok, F::Error>> {
    match catch_unwind(AssertUnwindSafe(|| {
        child.try_poll(&mut Context::from_waker(waker))
    })) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(Ok(value))) => Poll::Ready(Outcome::Ok(value)),
        Ok(Poll::Ready(Err(error))) => Poll::Ready(Outcome::Err(error)),
        Err(payload) => Poll::Ready(Outcome::Panic(payload)),
    }
}

impl<F: TryFuture> Slots<F> {
    /// Puts `child` (the `index`th) in a free slot and polls it for the
    /// first time.
    #[inline]
    pub(super) fn start(
        &mut self,
        index: usize,
        child: F,
        cx: &Context<'_>,
    ) -> Polled<F::Ok, F::Error> {
        let slot = match self.free {
            NONE => {
                self.slots.push(Slot {
                    child: Box::pin(Some(child)),
                    index,
                    waker: None,
                    registered: false,
                });
                self.slots.len() - 1
            }
            slot => {
                let s = &mut self.slots[slot];
                self.free = s.index;
                s.child.set(Some(child));
                s.index = index;
                slot
            }
        };
        self.live += 1;
        if self.direct {
            self.register(slot);
        }
        self.poll(slot, cx)
    }

    /// Polls the child in `slot`, if any (a stale wake finds none).
    #[inline]
    pub(super) fn poll(&mut self, slot: usize, cx: &Context<'_>) -> Polled<F::Ok, F::Error> {
        let Slot {
            child,
            waker,
            registered,
            ..
        } = &mut self.slots[slot];
        let Some(child) = child.as_mut().as_pin_mut() else {
            return Polled::Pending;
        };
        let poll = if *registered {
            let waker = &waker.as_ref().expect("a registered slot has a waker").waker;
            poll_child(child, waker)
        } else if let Some(probe) = &mut self.probe {
            if !probe.is_clean() {
                // Someone still holds a clone from an earlier child: the
                // count below would not be exact.
                *probe = Probe::new();
            }
            match poll_child(child, probe.waker()) {
                Poll::Pending => return self.probed(slot, cx),
                ready => ready,
            }
        } else {
            // Until a first poll pends, they use the group's own waker: a
            // group whose children all finish at once makes no probe.
            match poll_child(child, cx.waker()) {
                Poll::Pending => {
                    // What it did with that waker cannot be told apart from
                    // a wake of the group: again, with a waker of its own.
                    self.probe = Some(Probe::new());
                    self.register(slot);
                    return self.poll(slot, cx);
                }
                ready => ready,
            }
        };
        match poll {
            Poll::Pending => Polled::Pending,
            Poll::Ready(outcome) => self.finish(slot, outcome),
        }
    }

    /// A child polled with the probe is pending: what it did with it says
    /// how it is polled next.
    fn probed(&mut self, slot: usize, cx: &Context<'_>) -> Polled<F::Ok, F::Error> {
        let probe = self.probe.as_ref().expect("polled with the probe");
        if !probe.is_clean() {
            // It waits for the outside world, holding a waker that cannot
            // find it: again, with one that can; and so the next children.
            self.direct = true;
            self.register(slot);
            return self.poll(slot, cx);
        }
        // No clone of the probe exists: if it was not woken, nothing can
        // wake this child, and it is left alone.
        if probe.take_woken() {
            self.ready.push_back(slot);
        }
        Polled::Pending
    }

    /// The child in `slot` finished: drop it, free the slot.
    fn finish(
        &mut self,
        slot: usize,
        outcome: Outcome<F::Ok, F::Error>,
    ) -> Polled<F::Ok, F::Error> {
        if let Outcome::Panic(_) = outcome {
            // It stays in its slot: the group drops it with the rest.
            return Polled::Done(self.slots[slot].index, outcome);
        }
        let s = &mut self.slots[slot];
        let index = s.index;
        s.registered = false;
        s.index = self.free;
        self.free = slot;
        self.live -= 1;
        if self.live == 0 {
            // Nothing waits in a slot now: first polls may try the probe again.
            self.direct = false;
        }
        // Dropped before its outcome is handed on (as in `TryGroup`). A
        // panic of its `Drop` is the child's panic: the group tears down,
        // then resumes it.
        let child = &mut self.slots[slot].child;
        match catch_unwind(AssertUnwindSafe(|| child.set(None))) {
            Ok(()) => Polled::Done(index, outcome),
            Err(payload) => {
                drop(outcome);
                Polled::Done(index, Outcome::Panic(payload))
            }
        }
    }

    /// From now on, the child in `slot` is polled with the slot's own waker.
    fn register(&mut self, slot: usize) {
        let shared = self.shared.get_or_insert_with(Default::default);
        let s = &mut self.slots[slot];
        s.registered = true;
        if s.waker.is_none() {
            let wake = Arc::new(SlotWake {
                slot,
                queued: AtomicBool::new(false),
                shared: shared.clone(),
            });
            let waker = Waker::from(wake.clone());
            s.waker = Some(SlotWaker { wake, waker });
        }
    }
}
