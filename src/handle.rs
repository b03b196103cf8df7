//! [`Handle`] and [`LocalHandle`]: push children into a running group.

use std::fmt;
use std::future::Future;

use crate::inbox::Inbox;
use crate::kind::{Kind, LocalKind, SendKind};
use crate::sync::Arc;
use crate::{CancelToken, Cancelled, Closed};

macro_rules! handle_api {
    (
        $(#[$attr:meta])*
        $Handle:ident, $Group:ident, $kind:ty, [$($send:tt)*]
    ) => {
        $(#[$attr])*
        pub struct $Handle<'a, T: 'a, E: 'a> {
            inbox: Arc<Inbox<'a, T, E, $kind>>,
        }

        impl<'a, T: 'a, E: 'a> $Handle<'a, T, E> {
            pub(crate) fn new(inbox: Arc<Inbox<'a, T, E, $kind>>) -> Self {
                $Handle { inbox }
            }

            /// Pushes a child into the group. It is numbered when the group
            /// takes it in (at its next poll) and starts like any other push.
            ///
            /// Returns the future back, intact, as [`Closed`] if the group has
            /// finished, failed or been cancelled: a push either runs (and is
            /// in the output) or comes back, never both, never neither.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// let handle = group.handle();
            /// group.push(async move {
            ///     for i in 1..=3 {
            ///         handle.push(async move { Ok::<_, ()>(i) }).unwrap();
            ///     }
            ///     Ok(0)
            /// });
            /// assert_eq!(group.await, Ok(vec![0, 1, 2, 3]));
            /// # });
            /// ```
            pub fn push<F>(&self, fut: F) -> Result<(), Closed<F>>
            where
                F: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                self.inbox.push(fut, |fut| -> <$kind as Kind<'a, T, E>>::Child { Box::pin(fut) })
            }

            /// Pushes the child `make` builds from the group's token;
            /// `push_with(f)` is `push(f(token))`, so a rejected future comes
            /// back as [`Closed`] too.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let group = ", stringify!($Group), "::<(), ()>::new();")]
            /// group.handle().push_with(|token| async move {
            ///     assert!(!token.is_cancelled());
            ///     Ok(())
            /// }).unwrap();
            /// assert_eq!(group.await, Ok(vec![()]));
            /// # });
            /// ```
            pub fn push_with<F, M>(&self, make: M) -> Result<(), Closed<F>>
            where
                M: FnOnce(CancelToken) -> F,
                F: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                self.push(make(self.token()))
            }

            /// The group's token.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("let group = ", stringify!($Group), "::<(), ()>::new();")]
            /// assert!(!group.handle().token().is_cancelled());
            /// ```
            pub fn token(&self) -> CancelToken {
                self.inbox.token.clone()
            }

            /// Cancels the group from outside ([`CancelReason::Cancelled`]):
            /// it returns `Err(E::from(Cancelled))` unless an error came first.
            /// A second cancel during a `drain_on_error` drain cuts the drain
            /// short. Does nothing once the group has finished.
            ///
            /// [`CancelReason::Cancelled`]: crate::CancelReason::Cancelled
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::{CancelReason, Cancelled, ", stringify!($Group), "};")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), Cancelled>::new();")]
            /// let handle = group.handle();
            /// group.push(futures::future::pending());
            /// group.push(async move {
            ///     handle.cancel();
            ///     Ok(())
            /// });
            /// assert_eq!(group.await.unwrap_err().reason(), CancelReason::Cancelled);
            /// # });
            /// ```
            pub fn cancel(&self)
            where
                E: From<Cancelled>,
            {
                self.inbox.cancel(E::from);
            }

            /// True once the group takes no more children.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let group = ", stringify!($Group), "::<(), ()>::new();")]
            /// let handle = group.handle();
            /// assert!(!handle.is_closed());
            /// group.await.unwrap();
            /// assert!(handle.is_closed());
            /// # });
            /// ```
            pub fn is_closed(&self) -> bool {
                self.inbox.is_closed()
            }
        }

        impl<'a, T: 'a, E: 'a> Clone for $Handle<'a, T, E> {
            fn clone(&self) -> Self {
                $Handle { inbox: self.inbox.clone() }
            }
        }

        impl<'a, T: 'a, E: 'a> fmt::Debug for $Handle<'a, T, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($Handle))
                    .field("pending_pushes", &self.inbox.len())
                    .field("closed", &self.inbox.is_closed())
                    .field("reason", &self.inbox.token.reason())
                    .finish()
            }
        }
    };
}

handle_api! {
    /// Pushes children into a running [`TryGroup`](crate::TryGroup) from
    /// inside its children, other tasks or other threads (`Send + Sync` when
    /// `T` and `E` are `Send`).
    ///
    /// A handle never keeps the group alive and never leaks children: a child
    /// holding a handle to its own group is fine. Once the group finishes,
    /// pushes come back as [`Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let mut group = TryGroup::new();
    /// let handle = group.handle();
    /// let pusher = std::thread::spawn(move || handle.push(async { Ok::<_, ()>(42) }).is_ok());
    /// assert!(pusher.join().unwrap()); // the group had not finished: accepted
    /// group.push(async { Ok(1) });
    /// assert_eq!(group.await.map(|v| v.len()), Ok(2));
    /// # });
    /// ```
    Handle, TryGroup, SendKind, [+ Send]
}

handle_api! {
    /// The [`Handle`] of a [`LocalTryGroup`](crate::LocalTryGroup); children
    /// need not be `Send`, so neither is this handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use trygroup::LocalTryGroup;
    /// # futures::executor::block_on(async {
    /// let mut group = LocalTryGroup::new();
    /// let handle = group.handle();
    /// let local = Rc::new(3);
    /// group.push(async move {
    ///     handle.push(async move { Ok::<_, ()>(*local) }).unwrap();
    ///     Ok(0)
    /// });
    /// assert_eq!(group.await, Ok(vec![0, 3]));
    /// # });
    /// ```
    LocalHandle, LocalTryGroup, LocalKind, []
}
