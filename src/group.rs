//! The public group types, [`TryGroup`] and [`LocalTryGroup`].
//!
//! Both are thin wrappers over the one generic [`Collect`] / [`Core`]; the
//! macro below writes their (identical) API once, differing only in whether
//! children must be `Send`.
//!
//! [`Core`]: crate::core::Core

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_lock::Semaphore;
use futures_core::{FusedFuture, FusedStream, Stream};
use futures_util::StreamExt;

use crate::drive::Collect;
use crate::kind::{Kind, LocalKind, SendKind};
use crate::{CancelReason, CancelToken, Cancelled, Handle, LocalHandle, Panicked};

macro_rules! group_api {
    (
        $(#[$attr:meta])*
        $Group:ident, $Handle:ident, $kind:ty, [$($send:tt)*]
    ) => {
        $(#[$attr])*
        #[must_use = "a group does nothing unless awaited; dropping it cancels every child"]
        pub struct $Group<'a, T, E> {
            inner: Collect<'a, T, E, $kind>,
        }

        impl<'a, T: 'a, E: 'a> $Group<'a, T, E> {
            /// A group with no limit on the number of children in flight.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// group.push(async { Ok::<_, ()>(1) });
            /// group.push(async { Ok(2) });
            /// assert_eq!(group.await, Ok(vec![1, 2]));
            /// # });
            /// ```
            pub fn new() -> Self {
                $Group { inner: Collect::new() }
            }

            /// A group that keeps at most `limit` children in flight; the rest
            /// wait, first in first out (kratos' `GOMAXPROCS`, Go's `SetLimit`).
            ///
            /// Every pushed child is built and boxed at once and waits in the
            /// queue. For a big batch, [`feed`](Self::feed) it instead: children
            /// are then made only as slots free, so memory stays O(`limit`)
            /// (and it is faster: see the crate's `BENCHMARKS.md`, W4).
            ///
            /// # Panics
            ///
            /// If `limit` is 0: such a group could never start a child.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::with_limit(2);")]
            /// group.extend((0..5).map(|i| async move { Ok::<_, ()>(i * 10) }));
            /// assert_eq!(group.in_flight(), 2);
            /// assert_eq!(group.queued(), 3);
            /// assert_eq!(group.await, Ok(vec![0, 10, 20, 30, 40]));
            /// # });
            /// ```
            #[track_caller]
            pub fn with_limit(limit: usize) -> Self {
                let mut group = Self::new();
                group.set_limit(Some(limit));
                group
            }

            /// Changes the limit at any time; `None` means no limit.
            ///
            /// Lowering it never cancels a running child: new starts wait until
            /// fewer than `limit` are in flight. Raising it starts queued
            /// children at the group's next poll.
            ///
            /// # Panics
            ///
            /// On `Some(0)`, like [`with_limit(0)`](Self::with_limit).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), ()>::with_limit(1);")]
            /// group.set_limit(None);
            /// assert_eq!(group.limit(), None);
            /// ```
            #[track_caller]
            pub fn set_limit(&mut self, limit: Option<usize>) {
                self.inner.core.set_limit(limit);
            }

            /// The current limit (`None`: no limit).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("assert_eq!(", stringify!($Group), "::<(), ()>::with_limit(3).limit(), Some(3));")]
            /// ```
            pub fn limit(&self) -> Option<usize> {
                self.inner.core.limit()
            }

            /// Adds a child. It starts (is first polled) at the group's next
            /// poll if a slot is free, else waits in the queue, first in first
            /// out. Its output lands at its push index.
            ///
            /// Once the group has failed or been cancelled (also while it
            /// drains), the future is dropped unpolled.
            ///
            /// # Panics
            ///
            /// If the group already completed (was awaited to the end).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            /// let name = String::from("local data");
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// group.push(async { Ok::<_, ()>(name.len()) }); // children may borrow
            /// assert_eq!(group.await, Ok(vec![10]));
            /// # });
            /// ```
            #[inline(always)]
            #[track_caller]
            pub fn push<F>(&mut self, fut: F)
            where
                F: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                self.inner.core.push(Box::pin(fut));
            }

            /// Adds a child built from the group's [`CancelToken`] (kratos'
            /// `Go(func(ctx) error)`).
            ///
            /// # Panics
            ///
            /// If the group already completed.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// group.push_with(|token| async move {
            ///     token.cancelled().await;
            ///     Ok(())
            /// });
            /// group.push(async { Err("first") });
            /// assert_eq!(group.await, Err("first"));
            /// # });
            /// ```
            #[track_caller]
            pub fn push_with<F, M>(&mut self, make: M)
            where
                M: FnOnce(CancelToken) -> F,
                F: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                let token = self.token();
                self.push(make(token));
            }

            /// Go's `TryGo`: adds the child only if it can start without
            /// queueing (a slot is free and nobody waits); else gives the future
            /// back. Also gives it back once the group has stopped or finished.
            ///
            /// With [`with_semaphore`](Self::with_semaphore) it also needs a
            /// free permit, which it takes at once: "can start" must mean it.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("let mut group = ", stringify!($Group), "::<u8, ()>::with_limit(1);")]
            /// assert!(group.try_push(async { Ok(1) }).is_ok());
            /// let refused = group.try_push(async { Ok(2) });
            /// assert!(refused.is_err()); // the future comes back
            /// ```
            pub fn try_push<F>(&mut self, fut: F) -> Result<(), F>
            where
                F: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                match self.inner.core.try_reserve() {
                    Some(permit) => {
                        self.inner.core.start_reserved(Box::pin(fut), permit);
                        Ok(())
                    }
                    None => Err(fut),
                }
            }

            /// Adds a lazy source of children: an item is pulled only when a
            /// slot is free and nothing is queued, so ten million children
            /// under `with_limit(64)` hold at most 64 in memory. Items are
            /// numbered when pulled. After the group stops, the source is
            /// dropped without being pulled again.
            ///
            /// Several sources are pulled in the order they were added.
            ///
            /// # Panics
            ///
            /// If the group already completed.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::with_limit(64);")]
            /// group.feed((0..100_000u32).map(|i| async move { Ok::<_, ()>(i % 2) }));
            /// assert_eq!(group.queued(), 0); // lazy sources are not counted
            /// let values = group.await.unwrap();
            /// assert_eq!(values.len(), 100_000);
            /// # });
            /// ```
            #[track_caller]
            pub fn feed<I>(&mut self, iter: I)
            where
                I: IntoIterator,
                I::IntoIter: 'a $($send)*,
                I::Item: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                self.feed_stream(futures_util::stream::iter(iter));
            }

            /// Like [`feed`](Self::feed), from a [`Stream`] of children; the
            /// group waits for the stream when it is pending.
            ///
            /// # Panics
            ///
            /// If the group already completed.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            /// let children = futures::stream::iter(1..=3).map(|i| async move { Ok::<_, ()>(i) });
            /// # use futures::StreamExt;
            #[doc = concat!("let mut group = ", stringify!($Group), "::with_limit(2);")]
            /// group.feed_stream(children);
            /// assert_eq!(group.await, Ok(vec![1, 2, 3]));
            /// # });
            /// ```
            #[track_caller]
            pub fn feed_stream<S>(&mut self, stream: S)
            where
                S: Stream $($send)* + 'a,
                S::Item: Future<Output = Result<T, E>> $($send)* + 'a,
            {
                fn boxed<'a, T: 'a, E: 'a, F>(fut: F) -> <$kind as Kind<'a, T, E>>::Child
                where
                    F: Future<Output = Result<T, E>> $($send)* + 'a,
                {
                    Box::pin(fut)
                }
                self.inner.core.feed(Box::pin(stream.map(boxed)));
            }

            /// The group's [`CancelToken`].
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::{CancelReason, ", stringify!($Group), "};")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let group = ", stringify!($Group), "::<(), ()>::new();")]
            /// let token = group.token();
            /// group.await.unwrap();
            /// assert_eq!(token.reason(), Some(CancelReason::Finished));
            /// # });
            /// ```
            pub fn token(&self) -> CancelToken {
                self.inner.core.token().clone()
            }

            #[doc = concat!("A [`", stringify!($Handle), "`] to push children into the running group")]
            /// from inside its children, other tasks or other threads.
            ///
            /// A handle never keeps the group alive.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// let handle = group.handle();
            /// group.push(async move {
            ///     handle.push(async { Ok::<_, ()>(2) }).unwrap();
            ///     Ok(1)
            /// });
            /// assert_eq!(group.await, Ok(vec![1, 2]));
            /// # });
            /// ```
            pub fn handle(&self) -> $Handle<'a, T, E> {
                $Handle::new(self.inner.core.inbox().clone())
            }

            /// Children in flight plus queued ones (lazy sources not counted).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), ()>::with_limit(1);")]
            /// group.push(async { Ok(()) });
            /// group.push(async { Ok(()) });
            /// assert_eq!((group.len(), group.in_flight(), group.queued()), (2, 1, 1));
            /// ```
            pub fn len(&self) -> usize {
                self.in_flight() + self.queued()
            }

            /// True if no child is in flight or queued.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("assert!(", stringify!($Group), "::<(), ()>::new().is_empty());")]
            /// ```
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Children holding a slot, whether polled yet or not.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), ()>::new();")]
            /// group.push(async { Ok(()) });
            /// assert_eq!(group.in_flight(), 1);
            /// ```
            pub fn in_flight(&self) -> usize {
                self.inner.core.in_flight()
            }

            /// Children waiting for a slot, including handle pushes the group
            /// has not taken in yet.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            #[doc = concat!("let group = ", stringify!($Group), "::<(), ()>::new();")]
            /// group.handle().push(async { Ok(()) }).unwrap();
            /// assert_eq!(group.queued(), 1);
            /// ```
            pub fn queued(&self) -> usize {
                self.inner.core.queued()
            }

            /// Go's behaviour instead of dropping: after the first error (or an
            /// outside cancel) the token fires and nothing new starts, but
            /// in-flight children are polled until they finish; then the first
            /// error is returned. Later errors are dropped. An outside cancel
            /// that arrives during the drain cuts it short (the rest is dropped
            /// at once; the output stays the first reason), which bounds a
            /// grace period.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// use std::sync::atomic::{AtomicBool, Ordering};
            /// # futures::executor::block_on(async {
            /// let cleaned_up = AtomicBool::new(false);
            /// let flag = &cleaned_up;
            #[doc = concat!("let mut group = ", stringify!($Group), "::new().drain_on_error();")]
            /// group.push_with(|token| async move {
            ///     token.cancelled().await;
            ///     flag.store(true, Ordering::SeqCst); // gets to finish
            ///     Ok(())
            /// });
            /// group.push(async { Err("fail") });
            /// assert_eq!(group.await, Err("fail"));
            /// assert!(cleaned_up.load(Ordering::SeqCst));
            /// # });
            /// ```
            pub fn drain_on_error(mut self) -> Self {
                self.inner.core.drain_on_error = true;
                self
            }

            /// A child's panic becomes that child's error,
            /// `Err(E::from(Panicked))`, instead of unwinding through the group
            /// (kratos' recover). The token fires `Panicked { index }`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::{Panicked, ", stringify!($Group), "};")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), Panicked>::new().catch_panics();")]
            /// group.push(async { panic!("bad input") });
            /// let err = group.await.unwrap_err();
            /// assert_eq!((err.index(), err.message()), (0, Some("bad input")));
            /// # });
            /// ```
            pub fn catch_panics(mut self) -> Self
            where
                E: From<Panicked>,
            {
                self.inner.core.set_panicked_into(E::from);
                self
            }

            /// When `trigger` completes (its output is ignored), the group is
            /// cancelled with [`CancelReason::Trigger`] and returns
            /// `Err(E::from(Cancelled))`, unless a child error came first: a
            /// deadline, a signal or a shutdown notice from any runtime.
            ///
            /// An empty group still completes at once, without waiting for it.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::{CancelReason, Cancelled, ", stringify!($Group), "};")]
            /// # futures::executor::block_on(async {
            /// let (stop, stopped) = futures::channel::oneshot::channel::<()>();
            #[doc = concat!("let mut group = ", stringify!($Group), "::<(), Cancelled>::new().cancel_on(stopped);")]
            /// group.push(futures::future::pending());
            /// drop(stop); // completes the trigger
            /// assert_eq!(group.await.unwrap_err().reason(), CancelReason::Trigger);
            /// # });
            /// ```
            pub fn cancel_on<F>(mut self, trigger: F) -> Self
            where
                F: Future $($send)* + 'a,
                E: From<Cancelled>,
            {
                self.inner.core.set_cancelled_into(E::from);
                let trigger: <$kind as Kind<'a, T, E>>::Trigger = Box::pin(async move {
                    trigger.await;
                });
                self.inner.core.add_trigger(CancelReason::Trigger, trigger);
                self
            }

            /// Cancels this group ([`CancelReason::Parent`]) when `parent`
            /// fires, for **any** reason: also when the parent group merely
            /// finished (the Go pitfall of deriving from the group's context),
            /// and at once if it already fired.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::{CancelReason, Cancelled, ", stringify!($Group), "};")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let parent = ", stringify!($Group), "::<(), Cancelled>::new();")]
            /// let parent_token = parent.token();
            /// parent.await.unwrap(); // finished: its token fired
            ///
            #[doc = concat!("let mut child = ", stringify!($Group), "::<(), Cancelled>::new().with_parent(&parent_token);")]
            /// assert_eq!(child.token().reason(), Some(CancelReason::Parent));
            /// child.push(async { Ok(()) }); // dropped: the group is cancelled
            /// assert_eq!(child.await.unwrap_err().reason(), CancelReason::Parent);
            /// # });
            /// ```
            pub fn with_parent(mut self, parent: &CancelToken) -> Self
            where
                E: From<Cancelled>,
            {
                self.inner.core.set_cancelled_into(E::from);
                if parent.same(self.inner.core.token()) {
                    // Its own token as parent would cancel the group on its own
                    // finish or failure, which already fired it: nothing to do.
                    return self;
                }
                if parent.is_cancelled() {
                    self.inner.core.fire_early(CancelReason::Parent);
                } else {
                    let trigger: <$kind as Kind<'a, T, E>>::Trigger = Box::pin(parent.cancelled());
                    self.inner.core.add_trigger(CancelReason::Parent, trigger);
                }
                self
            }

            /// Every in-flight child holds one permit of `semaphore`, which
            /// several groups may share (a process-wide cap). Permits are
            /// taken only while the group is polled, so a group built but not
            /// yet awaited holds none, and are given back as each child
            /// finishes. The group's own limit still applies.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// use std::sync::Arc;
            /// # futures::executor::block_on(async {
            /// let cap = Arc::new(async_lock::Semaphore::new(2));
            #[doc = concat!("let mut a = ", stringify!($Group), "::<u8, ()>::new().with_semaphore(cap.clone());")]
            #[doc = concat!("let mut b = ", stringify!($Group), "::<u8, ()>::new().with_semaphore(cap.clone());")]
            /// a.extend((0..3).map(|i| async move { Ok(i) }));
            /// b.extend((3..6).map(|i| async move { Ok(i) }));
            /// assert_eq!(cap.try_acquire().is_some(), true); // nothing held yet
            /// let (a, b) = futures::join!(a, b);
            /// assert_eq!((a.unwrap(), b.unwrap()), (vec![0, 1, 2], vec![3, 4, 5]));
            /// # });
            /// ```
            pub fn with_semaphore(mut self, semaphore: Arc<Semaphore>) -> Self {
                self.inner.core.set_semaphore(semaphore);
                self
            }

            /// Waits for every child and returns all results in push order.
            ///
            /// Never short-circuits, and a child error does not fire the token
            /// (collect every error, as `conc`'s result pools do); the token
            /// fires `Finished` when every child is done. An outside cancel
            /// drops the unfinished children and gives each of them
            /// `Err(E::from(Cancelled))`. With `catch_panics`, a panic becomes
            /// that child's `Err`.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// group.push(async { Err("a") });
            /// group.push(async { Ok(1) });
            /// group.push(async { Err("b") });
            /// assert_eq!(group.settle().await, vec![Err("a"), Ok(1), Err("b")]);
            /// # });
            /// ```
            pub fn settle(self) -> impl FusedFuture<Output = Vec<Result<T, E>>> + Unpin + fmt::Debug + 'a {
                self.inner.into_settle()
            }

            /// The results as a [`Stream`], in completion order.
            ///
            /// On the first `Err`, the rest of the group is dropped, then the
            /// error is yielded and the stream ends. Under `drain_on_error`,
            /// in-flight children are drained first and their `Ok` values are
            /// still yielded (nothing finished is lost); the first error comes
            /// last. An outside cancel yields `Err(E::from(Cancelled))` last.
            /// The stream yields `None` for ever after it ends.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use trygroup::", stringify!($Group), ";")]
            /// use futures::StreamExt;
            /// # futures::executor::block_on(async {
            #[doc = concat!("let mut group = ", stringify!($Group), "::new();")]
            /// group.push(async { Ok(1) });
            /// group.push(async { Err("stop") });
            /// group.push(futures::future::pending());
            /// let seen: Vec<_> = group.into_stream().collect().await;
            /// assert_eq!(seen, vec![Ok(1), Err("stop")]);
            /// # });
            /// ```
            pub fn into_stream(self) -> impl FusedStream<Item = Result<T, E>> + Unpin + fmt::Debug + 'a {
                self.inner.into_stream()
            }
        }

        impl<'a, T: 'a, E: 'a> Default for $Group<'a, T, E> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<'a, T: 'a, E: 'a> Future for $Group<'a, T, E> {
            type Output = Result<Vec<T>, E>;

            #[track_caller]
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                self.inner.poll(cx)
            }
        }

        impl<'a, T: 'a, E: 'a> FusedFuture for $Group<'a, T, E> {
            fn is_terminated(&self) -> bool {
                self.inner.core.is_done()
            }
        }

        impl<'a, T: 'a, E: 'a, F> Extend<F> for $Group<'a, T, E>
        where
            F: Future<Output = Result<T, E>> $($send)* + 'a,
        {
            fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
                for fut in iter {
                    self.push(fut);
                }
            }
        }

        impl<'a, T: 'a, E: 'a, F> FromIterator<F> for $Group<'a, T, E>
        where
            F: Future<Output = Result<T, E>> $($send)* + 'a,
        {
            fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
                let mut group = Self::new();
                group.extend(iter);
                group
            }
        }

        impl<'a, T: 'a, E: 'a> fmt::Debug for $Group<'a, T, E> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let core = &self.inner.core;
                f.debug_struct(stringify!($Group))
                    .field("in_flight", &core.in_flight())
                    .field("queued", &core.queued())
                    .field("limit", &core.limit())
                    .field("reason", &core.reason())
                    .field("phase", &core.phase())
                    .finish()
            }
        }
    };
}

group_api! {
    /// A group of fallible futures, polled in place, that returns the first
    /// error (Go's `errgroup.Group`, as a future).
    ///
    /// Push children (`Future<Output = Result<T, E>> + Send + 'a`), then
    /// `.await` the group: `Ok(values)` in push order, or the first error.
    /// Nothing is spawned: the children run on whatever task polls the group,
    /// so it works on every executor and children may borrow local data.
    ///
    /// See the [crate docs](crate) for the full semantics table.
    ///
    /// # Cancel safety and drop behaviour
    ///
    /// Dropping the group (e.g. when it loses a `select!`) drops every child,
    /// in flight or queued, and every lazy source, exactly once; the token
    /// fires [`CancelReason::Dropped`]. Children are futures, so dropping is
    /// how they are cancelled: whatever they had not finished is lost, as with
    /// any dropped future. Polling the group again after a `select!` branch
    /// lost is fine: nothing is lost by *not* being polled.
    ///
    /// # How children are polled
    ///
    /// Up to four children are polled directly, with the waker of the task
    /// that polls the group. Beyond that they live in a `FuturesUnordered`,
    /// which polls only the children that were woken. A child that starts
    /// there is first polled outside the set, with a waker of the group's own,
    /// so one that finishes at once never costs a task in the set. One that
    /// returns `Pending` is polled again at once by the set, with the set's
    /// waker for it. So, as the [`Future`](std::future::Future) contract
    /// allows, a child may see a different waker from one poll to the next
    /// and must wake the waker of its latest poll (every future built with
    /// `async`, `futures`, tokio or smol does). Children that register the
    /// waker and wait for the outside world (I/O, timers, channels) would pay
    /// that first poll twice, so when one does, the group first-polls only
    /// one child in 64 outside the set until a child finishes, wakes itself
    /// or leaves the waker alone at its first poll again.
    ///
    /// # Which error wins
    ///
    /// The first one *observed*, in poll order: if several children fail
    /// within one poll, the one polled first wins, and the
    /// others are dropped with their children. The token's
    /// [`CancelReason::Failed`] names the winner's index.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let mut group = TryGroup::with_limit(4);
    /// for i in 0..10u64 {
    ///     group.push(async move {
    ///         if i == 7 { Err(format!("child {i} failed")) } else { Ok(i * i) }
    ///     });
    /// }
    /// assert_eq!(group.await, Err("child 7 failed".to_string()));
    /// # });
    /// ```
    TryGroup, Handle, SendKind, [+ Send]
}

group_api! {
    /// [`TryGroup`] for children that are not `Send` (`Rc`, `RefCell`, ...),
    /// for single-threaded executors. The same API and semantics; the group
    /// itself is then `!Send`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use trygroup::LocalTryGroup;
    /// # futures::executor::block_on(async {
    /// let shared = Rc::new(5);
    /// let mut group = LocalTryGroup::new();
    /// for i in 0..3 {
    ///     let shared = shared.clone();
    ///     group.push(async move { Ok::<_, ()>(*shared + i) });
    /// }
    /// assert_eq!(group.await, Ok(vec![5, 6, 7]));
    /// # });
    /// ```
    LocalTryGroup, LocalHandle, LocalKind, []
}
