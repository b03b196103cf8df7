//! What separates [`TryGroup`](crate::TryGroup) from
//! [`LocalTryGroup`](crate::LocalTryGroup): only the boxes children, triggers
//! and lazy sources are erased into (`+ Send` or not). Everything else is the
//! one generic core in [`crate::core`].

use std::future::Future;
use std::pin::Pin;

use futures_core::Stream;

/// The erased types one flavour of group stores.
pub(crate) trait Kind<'a, T, E> {
    /// A boxed child.
    type Child: Future<Output = Result<T, E>> + Unpin;
    /// A boxed `cancel_on` / `with_parent` trigger.
    type Trigger: Future<Output = ()> + Unpin;
    /// A boxed lazy source of children (`feed`, `feed_stream`).
    type Source: Stream<Item = Self::Child> + Unpin;
}

/// Children, triggers and sources are `Send`: the group is `Send`.
#[derive(Debug)]
pub(crate) struct SendKind;

/// Nothing needs to be `Send`: the group is `!Send`.
#[derive(Debug)]
pub(crate) struct LocalKind;

impl<'a, T, E> Kind<'a, T, E> for SendKind {
    type Child = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>>;
    type Trigger = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
    type Source = Pin<Box<dyn Stream<Item = Self::Child> + Send + 'a>>;
}

impl<'a, T, E> Kind<'a, T, E> for LocalKind {
    type Child = Pin<Box<dyn Future<Output = Result<T, E>> + 'a>>;
    type Trigger = Pin<Box<dyn Future<Output = ()> + 'a>>;
    type Source = Pin<Box<dyn Stream<Item = Self::Child> + 'a>>;
}
