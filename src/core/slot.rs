//! One in-flight child as `FuturesUnordered` holds it.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_lock::SemaphoreGuardArc;

/// A panic payload, as `catch_unwind` gives it.
pub(crate) type Payload = Box<dyn Any + Send>;

/// How a child ended.
pub(crate) enum Outcome<T, E> {
    Ok(T),
    Err(E),
    /// The child panicked while being polled; the original payload.
    Panic(Payload),
}

/// A child in flight: its push index, the child itself, and the semaphore
/// permit it holds (if the group has a shared semaphore).
///
/// The child is dropped *here*, as soon as it is `Ready` (or panicked), not
/// later by `FuturesUnordered`: that releases its permit before the next child
/// starts, and a panicking `Drop` unwinds through our own `poll` while the set
/// stays consistent.
pub(crate) struct Slot<C> {
    pub(crate) index: usize,
    child: Option<C>,
    permit: Option<SemaphoreGuardArc>,
}

impl<C> Slot<C> {
    #[inline]
    pub(crate) fn new(index: usize, child: C, permit: Option<SemaphoreGuardArc>) -> Self {
        Slot {
            index,
            child: Some(child),
            permit,
        }
    }

    /// Drops the child (and its permit) in place, for teardown.
    #[inline]
    pub(crate) fn drop_child(&mut self) {
        self.permit = None;
        // Move the child out before dropping it: if its `Drop` panics, the
        // slot is already empty and can never drop it a second time.
        drop(self.child.take());
    }

    /// Takes the child out (unstarted), handing the permit back.
    pub(crate) fn take_child(&mut self) -> Option<C> {
        self.permit = None;
        self.child.take()
    }
}

impl<T, E, C> Future for Slot<C>
where
    C: Future<Output = Result<T, E>> + Unpin,
{
    type Output = (usize, Outcome<T, E>);

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let child = this
            .child
            .as_mut()
            .expect("trygroup bug: a finished child was polled");
        let outcome = match catch_unwind(AssertUnwindSafe(|| Pin::new(child).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => Outcome::Ok(value),
            Ok(Poll::Ready(Err(error))) => Outcome::Err(error),
            Err(payload) => Outcome::Panic(payload),
        };
        this.drop_child();
        Poll::Ready((this.index, outcome))
    }
}
