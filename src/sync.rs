//! The synchronisation primitives the crate shares across threads, switched
//! to `loom`'s instrumented versions under `--cfg loom` so the loom models in
//! `tests/loom.rs` explore every interleaving of them.
//!
//! Only the token and the handle inbox are shared across threads; the group
//! itself is polled by one task at a time through `&mut`.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc, Mutex, MutexGuard,
};

use std::task::Waker;

/// Locks `mutex`, ignoring poisoning: every critical section in this crate is
/// a single field update that a panic cannot leave half done.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The group's waker, registered at each poll and woken from other threads.
///
/// A `Mutex<Option<Waker>>` rather than `futures`' `AtomicWaker`, so loom can
/// see it; it is touched once per group poll and once per handle push.
#[derive(Debug, Default)]
pub(crate) struct WakerCell {
    waker: Mutex<Option<Waker>>,
}

impl WakerCell {
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = lock(&self.waker);
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    pub(crate) fn wake(&self) {
        // Take it out and wake outside the lock: a waker may run arbitrary code.
        let waker = lock(&self.waker).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
