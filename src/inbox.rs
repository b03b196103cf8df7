//! The mailbox handles push into, shared between a group and its handles.
//!
//! # Invariants
//!
//! * `closed` is set exactly once, under the lock, by the group: either when it
//!   finds the inbox empty with nothing else left to run (normal finish), or
//!   when it stops (failure, cancel). A push takes the same lock and checks
//!   `closed` first, so every push is either taken in by the group (and runs or
//!   is dropped with the group's other children) or given back as
//!   [`Closed`]: never both, never neither.
//! * The inbox holds children but never the group, and the group empties it
//!   when it closes it: a child holding a [`Handle`](crate::Handle) to its own
//!   group makes no reference cycle that outlives the group.
//! * `has_children` is true whenever `children` is non-empty (set under the
//!   lock), so the group may skip the lock when it reads false.

use crate::kind::Kind;
use crate::sync::{lock, AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering, WakerCell};
use crate::{CancelReason, CancelToken, Cancelled, Closed};
use std::collections::VecDeque;
use std::fmt;

/// Builds `E::from(Cancelled)`; stored by whoever knows `E: From<Cancelled>`.
pub(crate) type IntoCancelled<E> = fn(Cancelled) -> E;

pub(crate) struct Inbox<'a, T, E, K: Kind<'a, T, E>> {
    state: Mutex<State<K::Child>>,
    has_children: AtomicBool,
    /// The group's waker, registered at every poll, woken by pushes and cancels.
    pub(crate) waker: WakerCell,
    /// `Handle::cancel` calls that found the token already fired. The group
    /// compares it with what it saw last: a new one cuts a drain short.
    pub(crate) late_cancels: AtomicUsize,
    /// How to turn [`Cancelled`] into `E`; set by the first `Handle::cancel`
    /// (which is the only place that knows `E: From<Cancelled>`).
    cancelled_into: Mutex<Option<IntoCancelled<E>>>,
    pub(crate) token: CancelToken,
}

struct State<C> {
    children: VecDeque<C>,
    closed: bool,
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Inbox<'a, T, E, K> {
    pub(crate) fn new(token: CancelToken, closed: bool) -> Self {
        Inbox {
            state: Mutex::new(State {
                children: VecDeque::new(),
                closed,
            }),
            has_children: AtomicBool::new(false),
            waker: WakerCell::default(),
            late_cancels: AtomicUsize::new(0),
            cancelled_into: Mutex::new(None),
            token,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K::Child>> {
        lock(&self.state)
    }

    /// Queues `fut` (boxed by `boxed`) unless the inbox is closed, and wakes
    /// the group. Boxing happens under the lock so a rejected future can be
    /// given back unboxed.
    pub(crate) fn push<F>(
        &self,
        fut: F,
        boxed: impl FnOnce(F) -> K::Child,
    ) -> Result<(), Closed<F>> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(Closed(fut));
            }
            state.children.push_back(boxed(fut));
            self.has_children.store(true, Ordering::Release);
        }
        self.waker.wake();
        Ok(())
    }

    /// Takes every queued child, in push order. Cheap (no lock) when empty.
    pub(crate) fn take(&self) -> VecDeque<K::Child> {
        if !self.has_children.load(Ordering::Acquire) {
            return VecDeque::new();
        }
        let mut state = self.lock();
        self.has_children.store(false, Ordering::Relaxed);
        std::mem::take(&mut state.children)
    }

    /// Closes the inbox if it is empty; false if children arrived meanwhile.
    pub(crate) fn close_if_empty(&self) -> bool {
        let mut state = self.lock();
        if state.children.is_empty() {
            state.closed = true;
        }
        state.closed
    }

    /// Closes the inbox but keeps what is in it, for the group to take.
    pub(crate) fn refuse_pushes(&self) {
        self.lock().closed = true;
    }

    /// Closes the inbox and returns what was still in it.
    pub(crate) fn close(&self) -> VecDeque<K::Child> {
        let mut state = self.lock();
        state.closed = true;
        self.has_children.store(false, Ordering::Relaxed);
        std::mem::take(&mut state.children)
    }

    pub(crate) fn len(&self) -> usize {
        if !self.has_children.load(Ordering::Acquire) {
            return 0;
        }
        self.lock().children.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// `Handle::cancel`: fire the token with `Cancelled` (or, if it already
    /// fired, count a late cancel), then wake the group.
    /// How to build `E::from(Cancelled)`, if a handle cancelled the group.
    pub(crate) fn cancelled_into(&self) -> Option<IntoCancelled<E>> {
        *lock(&self.cancelled_into)
    }

    pub(crate) fn cancel(&self, into: IntoCancelled<E>) {
        // Set before the token fires, so the group can always build the error.
        lock(&self.cancelled_into).get_or_insert(into);
        if self.token.fire(CancelReason::Cancelled) {
            // Cancelled from now on, not from the group's next poll (rule 12).
            self.refuse_pushes();
        } else {
            self.late_cancels.fetch_add(1, Ordering::AcqRel);
        }
        self.waker.wake();
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> fmt::Debug for Inbox<'a, T, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("queued", &self.len())
            .field("closed", &self.is_closed())
            .field("token", &self.token)
            .finish()
    }
}
