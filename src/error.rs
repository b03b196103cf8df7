//! The crate's error types: [`Closed`], [`Cancelled`], [`Panicked`].
//!
//! The user's own `E` passes through a group untouched; these types only appear
//! where the group itself has something to say, and convert into `E` through
//! `From` (`E: From<Cancelled>`, `E: From<Panicked>`).

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Mutex;

use crate::CancelReason;

/// The group no longer takes children; the rejected future comes back inside.
///
/// Returned by [`Handle::push`](crate::Handle::push) once the group has
/// finished, failed or been cancelled. Nothing is lost: take the future back
/// with [`into_inner`](Closed::into_inner) (or `.0`).
///
/// # Examples
///
/// ```
/// use trygroup::TryGroup;
/// # futures::executor::block_on(async {
/// let group = TryGroup::<u8, ()>::new();
/// let handle = group.handle();
/// group.await.unwrap();
///
/// let rejected = handle.push(async { Ok(7) }).unwrap_err();
/// assert_eq!(rejected.to_string(), "the group no longer takes children");
/// assert_eq!(rejected.into_inner().await, Ok(7)); // the future is intact
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Closed<F>(pub F);

impl<F> Closed<F> {
    /// Gives back the future that was not accepted.
    pub fn into_inner(self) -> F {
        self.0
    }
}

impl<F> fmt::Debug for Closed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<F> fmt::Display for Closed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the group no longer takes children")
    }
}

impl<F> Error for Closed<F> {}

/// The group was cancelled from outside: by
/// [`Handle::cancel`](crate::Handle::cancel), a
/// [`cancel_on`](crate::TryGroup::cancel_on) trigger or a
/// [`with_parent`](crate::TryGroup::with_parent) parent.
///
/// A group reports it as `Err(E::from(Cancelled))`, so the APIs that can cancel
/// from outside require `E: From<Cancelled>`.
///
/// # Examples
///
/// ```
/// use trygroup::{CancelReason, Cancelled, TryGroup};
/// # futures::executor::block_on(async {
/// let mut group = TryGroup::<(), Cancelled>::new();
/// group.push(futures::future::pending());
/// group.handle().cancel();
///
/// let err = group.await.unwrap_err();
/// assert_eq!(err.reason(), CancelReason::Cancelled);
/// assert_eq!(err.to_string(), "the group was cancelled: cancelled through a handle");
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cancelled {
    reason: CancelReason,
}

impl Cancelled {
    pub(crate) fn new(reason: CancelReason) -> Self {
        Cancelled { reason }
    }

    /// Which outside event cancelled the group: [`CancelReason::Cancelled`],
    /// [`CancelReason::Parent`] or [`CancelReason::Trigger`].
    pub fn reason(&self) -> CancelReason {
        self.reason
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the group was cancelled: {}", self.reason)
    }
}

impl Error for Cancelled {}

/// A child panicked while being polled, and the group was built with
/// [`catch_panics`](crate::TryGroup::catch_panics).
///
/// `Send + Sync`, so it converts into `anyhow::Error` and other boxed errors.
/// The original payload is kept: [`into_payload`](Panicked::into_payload)
/// gives it back for `std::panic::resume_unwind`.
///
/// # Examples
///
/// ```
/// use trygroup::{Panicked, TryGroup};
/// # futures::executor::block_on(async {
/// let mut group = TryGroup::<(), Panicked>::new().catch_panics();
/// group.push(async { Ok(()) });
/// group.push(async { panic!("oh no") });
///
/// let err = group.await.unwrap_err();
/// assert_eq!(err.index(), 1);
/// assert_eq!(err.message(), Some("oh no"));
/// assert_eq!(err.to_string(), "child 1 panicked: oh no");
/// # });
/// ```
pub struct Panicked {
    index: usize,
    message: Option<String>,
    /// Behind a `Mutex` only to make `Panicked: Sync`; it is never contended
    /// (`&self` methods do not touch it).
    payload: Mutex<Box<dyn Any + Send>>,
}

impl Panicked {
    pub(crate) fn new(index: usize, payload: Box<dyn Any + Send>) -> Self {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        Panicked {
            index,
            message,
            payload: Mutex::new(payload),
        }
    }

    /// The push index of the child that panicked.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The panic message, if the payload was a `&str` or a `String` (as with
    /// `panic!("...")`).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The original panic payload, e.g. for `std::panic::resume_unwind`.
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.payload
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("index", &self.index)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "child {} panicked: {m}", self.index),
            None => write!(f, "child {} panicked", self.index),
        }
    }
}

impl Error for Panicked {}
