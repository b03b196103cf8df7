//! The waker of a child's first poll outside any set: it wakes nobody and
//! records what the child did with it.
//!
//! A child polled with it that returns `Pending` either
//!
//! * woke it (a yield): poll it again, with the probe, no waker needed;
//! * kept a clone of it and did not wake it (it registered with the outside
//!   world: I/O, a timer, a channel): it must be polled again at once with a
//!   waker that can find it, and the children after it will likely do the
//!   same;
//! * neither: nothing can wake it, so it needs no waker at all.
//!
//! Used by the large set's fresh children (`core::fresh`) and by every
//! first poll of [`TryJoinIter`](crate::TryJoinIter).

use std::sync::atomic::{
    fence, AtomicBool,
    Ordering::{Acquire, Relaxed},
};
use std::sync::Arc;
use std::task::{Wake, Waker};

pub(crate) struct Probe {
    flag: Arc<Flag>,
    waker: Waker,
}

/// Set when a child wakes the probe's waker.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Relaxed);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Relaxed);
    }
}

/// The state of the probe just before a poll, to compare with after it.
#[derive(Clone, Copy)]
pub(crate) struct Armed(usize);

impl Probe {
    /// One allocation.
    pub(crate) fn new() -> Self {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        Probe { flag, waker }
    }

    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Call just before polling a child with [`waker`](Self::waker).
    #[inline]
    pub(crate) fn arm(&self) -> Armed {
        self.flag.0.store(false, Relaxed);
        Armed(Arc::strong_count(&self.flag))
    }

    /// After a `Pending` poll: the child kept a clone of the waker.
    #[inline]
    pub(crate) fn kept(&self, armed: Armed) -> bool {
        Arc::strong_count(&self.flag) > armed.0
    }

    /// After a `Pending` poll: the child (or a stale clone elsewhere) woke it.
    #[inline]
    pub(crate) fn woken(&self) -> bool {
        self.flag.0.load(Relaxed)
    }

    /// Nobody but the probe holds its waker: no clone of it exists, so the
    /// clone count tells exactly what the next poll did with it.
    #[inline]
    pub(crate) fn is_clean(&self) -> bool {
        // `flag` and the `Arc` inside `waker`.
        let clean = Arc::strong_count(&self.flag) == 2;
        if clean {
            // A clone dropped on another thread was dropped with a release
            // decrement; this makes a wake done before that drop visible to
            // the `woken` load that follows (the count is read relaxed).
            fence(Acquire);
        }
        clean
    }

    /// Whether it was woken since the last call (or `new`); clears the flag.
    #[inline]
    pub(crate) fn take_woken(&self) -> bool {
        // A load first: the flag is mostly clear, and a swap is a locked
        // instruction.
        let woken = self.flag.0.load(Relaxed);
        if woken {
            self.flag.0.store(false, Relaxed);
        }
        woken
    }
}
