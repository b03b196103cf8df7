//! What separates [`TryGroup`](crate::TryGroup) from
//! [`LocalTryGroup`](crate::LocalTryGroup): only the boxes children, triggers
//! and lazy sources are erased into (`+ Send` or not). Everything else is the
//! one generic core in [`crate::core`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_lock::SemaphoreGuardArc;
use futures_core::Stream;

use crate::core::Placeholder;

/// The erased types one flavour of group stores.
pub(crate) trait Kind<'a, T, E> {
    /// A boxed child.
    type Child: Future<Output = Result<T, E>> + Unpin + Placeholder;
    /// A boxed `cancel_on` / `with_parent` trigger.
    type Trigger: Future<Output = ()> + Unpin;
    /// A boxed lazy source of children (`feed`, `feed_stream`).
    type Source: Stream<Item = Self::Child> + Unpin;

    /// `child`, holding `permit` until it is dropped. Only groups with a
    /// shared semaphore pay this second box, so every other child's slot
    /// stays as small as a `FuturesUnordered` entry can be.
    fn with_permit(child: Self::Child, permit: SemaphoreGuardArc) -> Self::Child;
}

/// A child and the semaphore permit it holds; the child is dropped first.
struct WithPermit<C> {
    child: C,
    _permit: SemaphoreGuardArc,
}

impl<C: Future + Unpin> Future for WithPermit<C> {
    type Output = C::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        Pin::new(&mut self.child).poll(cx)
    }
}

/// Children, triggers and sources are `Send`: the group is `Send`.
#[derive(Debug)]
pub(crate) struct SendKind;

/// Nothing needs to be `Send`: the group is `!Send`.
#[derive(Debug)]
pub(crate) struct LocalKind;

impl<'a, T: 'a, E: 'a> Kind<'a, T, E> for SendKind {
    type Child = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;
    type Trigger = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
    type Source = Pin<Box<dyn Stream<Item = Self::Child> + Send + 'a>>;

    fn with_permit(child: Self::Child, permit: SemaphoreGuardArc) -> Self::Child {
        Box::pin(WithPermit {
            child,
            _permit: permit,
        })
    }
}

impl<'a, T: 'a, E: 'a> Kind<'a, T, E> for LocalKind {
    type Child = Pin<Box<dyn Future<Output = Result<T, E>> + 'a>>;
    type Trigger = Pin<Box<dyn Future<Output = ()> + 'a>>;
    type Source = Pin<Box<dyn Stream<Item = Self::Child> + 'a>>;

    fn with_permit(child: Self::Child, permit: SemaphoreGuardArc) -> Self::Child {
        Box::pin(WithPermit {
            child,
            _permit: permit,
        })
    }
}

impl<'a, T: 'a, E: 'a> Placeholder for Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>> {
    fn placeholder() -> Self {
        Box::pin(std::future::pending())
    }
}

impl<'a, T: 'a, E: 'a> Placeholder for Pin<Box<dyn Future<Output = Result<T, E>> + 'a>> {
    fn placeholder() -> Self {
        Box::pin(std::future::pending())
    }
}
