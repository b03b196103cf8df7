//! One in-flight child as `FuturesUnordered` holds it.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A panic payload, as `catch_unwind` gives it.
pub(crate) type Payload = Box<dyn Any + Send>;

/// How a child ended.
pub(crate) enum Outcome<T, E> {
    Ok(T),
    Err(E),
    /// The child panicked while being polled; the original payload.
    Panic(Payload),
}

/// A child in flight: its push index and the child itself (which, in a group
/// with a shared semaphore, holds its permit: see `Kind::with_permit`).
///
/// A finished child is dropped by its owner as soon as `poll` returns
/// `Ready`: `FuturesUnordered` releases the task before its `poll_next`
/// returns (and stays consistent if that `Drop` panics), the inline slots
/// clear the slot before dropping it. Either way its permit is back before
/// the next child starts.
pub(crate) struct Slot<C> {
    pub(crate) index: usize,
    child: C,
}

impl<C> Slot<C> {
    #[inline]
    pub(crate) fn new(index: usize, child: C) -> Self {
        Slot { index, child }
    }

    /// The child, unstarted or to be dropped.
    pub(crate) fn into_child(self) -> C {
        self.child
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
        let child = &mut this.child;
        let outcome = match catch_unwind(AssertUnwindSafe(|| Pin::new(child).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => Outcome::Ok(value),
            Ok(Poll::Ready(Err(error))) => Outcome::Err(error),
            Err(payload) => Outcome::Panic(payload),
        };
        Poll::Ready((this.index, outcome))
    }
}
