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
/// A finished child is dropped at once, *before* its outcome is handed on:
/// that gives its permit back before the next child starts, and if its
/// `Drop` panics, the outcome is still a local of ours and is dropped while
/// the panic unwinds. (Left to `FuturesUnordered`, the child would be
/// dropped after `poll_next` wrote its return value, which Rust then leaks:
/// rust-lang/rust#47949.) In the set, `poll` swaps in a [`Placeholder`]
/// for that; the inline slots and the fresh children (polled outside the
/// set) use [`Slot::poll_child`] and drop the slot.
pub(crate) struct Slot<C> {
    pub(crate) index: usize,
    /// After the child is dropped in the set, a placeholder that allocates
    /// nothing: no `Option` here keeps the slot at 24 bytes and lets
    /// `FuturesUnordered` use the box's niche for its own `Option`.
    child: C,
}

/// A boxed child type that can stand in for a dropped child without
/// allocating (a box of a zero-sized future).
pub(crate) trait Placeholder {
    fn placeholder() -> Self;
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

impl<T, E, C> Slot<C>
where
    C: Future<Output = Result<T, E>> + Unpin + Placeholder,
{
    /// Polls the child, catching a panic. With `DROP`, a finished child is
    /// dropped here, the placeholder taking its place (for the set); without,
    /// the caller drops the slot (the inline slots).
    #[inline(always)]
    fn poll_slot<const DROP: bool>(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<(usize, Outcome<T, E>)> {
        let child = &mut self.child;
        let outcome = match catch_unwind(AssertUnwindSafe(|| Pin::new(child).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(value))) => Outcome::Ok(value),
            Ok(Poll::Ready(Err(error))) => Outcome::Err(error),
            Err(payload) => Outcome::Panic(payload),
        };
        if DROP {
            // Move the child out before dropping it: if its `Drop` panics,
            // the slot already holds the placeholder, and `outcome` unwinds
            // with us.
            drop(std::mem::replace(&mut self.child, C::placeholder()));
        }
        Poll::Ready((self.index, outcome))
    }

    /// [`poll_slot`](Self::poll_slot) for the inline slots and the fresh
    /// children, which drop a finished slot themselves.
    #[inline]
    pub(crate) fn poll_child(&mut self, cx: &mut Context<'_>) -> Poll<(usize, Outcome<T, E>)> {
        self.poll_slot::<false>(cx)
    }
}

/// How `FuturesUnordered` polls a slot: a finished child is dropped here.
impl<T, E, C> Future for Slot<C>
where
    C: Future<Output = Result<T, E>> + Unpin + Placeholder,
{
    type Output = (usize, Outcome<T, E>);

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_slot::<true>(cx)
    }
}
