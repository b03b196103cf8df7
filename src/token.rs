//! The cancellation signal: [`CancelToken`], [`CancelReason`], [`WaitCancelled`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use event_listener::{Event, EventListener, Listener};

use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering};

/// Why a group's [`CancelToken`] fired.
///
/// A token fires exactly once; the reason it carries is the first one, and the
/// group's output always agrees with it (see the crate docs).
///
/// # Examples
///
/// ```
/// use trygroup::{CancelReason, TryGroup};
/// # futures::executor::block_on(async {
/// let mut group = TryGroup::new();
/// group.push(async { Ok::<_, &str>(1) });
/// group.push(async { Err("boom") });
/// let token = group.token();
///
/// assert_eq!(group.await, Err("boom"));
/// assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// The child with this push index returned `Err`.
    Failed {
        /// The child's push index.
        index: usize,
    },
    /// The child with this push index panicked while being polled.
    Panicked {
        /// The child's push index.
        index: usize,
    },
    /// Someone called [`Handle::cancel`](crate::Handle::cancel).
    Cancelled,
    /// The parent token given to [`with_parent`](crate::TryGroup::with_parent) fired.
    Parent,
    /// The future given to [`cancel_on`](crate::TryGroup::cancel_on) completed.
    Trigger,
    /// The group completed: every child finished (as Go cancels the context
    /// when `Wait` returns).
    Finished,
    /// The group was dropped before it finished.
    Dropped,
}

impl CancelReason {
    /// True for the reasons that come from outside the group's children:
    /// [`Cancelled`](Self::Cancelled), [`Parent`](Self::Parent) and
    /// [`Trigger`](Self::Trigger).
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::CancelReason;
    /// assert!(CancelReason::Trigger.is_outside());
    /// assert!(!CancelReason::Failed { index: 0 }.is_outside());
    /// ```
    pub fn is_outside(self) -> bool {
        matches!(self, Self::Cancelled | Self::Parent | Self::Trigger)
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { index } => write!(f, "child {index} failed"),
            Self::Panicked { index } => write!(f, "child {index} panicked"),
            Self::Cancelled => f.write_str("cancelled through a handle"),
            Self::Parent => f.write_str("the parent token fired"),
            Self::Trigger => f.write_str("the cancel trigger completed"),
            Self::Finished => f.write_str("the group finished"),
            Self::Dropped => f.write_str("the group was dropped"),
        }
    }
}

/// The shared state behind every clone of one token.
#[derive(Default)]
struct Inner {
    /// True once `reason` is set: the single atomic load `is_cancelled` needs.
    fired: AtomicBool,
    /// The first reason; written once, under the lock, before `fired`.
    reason: Mutex<Option<CancelReason>>,
    /// Woken (all listeners) right after `fired` is set.
    event: Event,
}

impl Inner {
    fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    fn reason(&self) -> Option<CancelReason> {
        if self.is_fired() {
            *lock(&self.reason)
        } else {
            None
        }
    }

    fn fire(&self, reason: CancelReason) -> bool {
        {
            let mut first = lock(&self.reason);
            if first.is_some() {
                return false;
            }
            *first = Some(reason);
            self.fired.store(true, Ordering::Release);
        }
        self.event.notify(usize::MAX);
        true
    }
}

/// Observes one group's cancellation.
///
/// Every group owns one token (get it with
/// [`TryGroup::token`](crate::TryGroup::token), or have it handed to a child by
/// [`push_with`](crate::TryGroup::push_with)). Clones observe the same signal.
/// A token cannot cancel anything itself: that takes a
/// [`Handle::cancel`](crate::Handle::cancel), a
/// [`cancel_on`](crate::TryGroup::cancel_on) trigger or a
/// [`with_parent`](crate::TryGroup::with_parent) parent.
///
/// The token fires **exactly once**, with the first [`CancelReason`]. Waiting is
/// built on [`event_listener::Event`]: no polling loop, no lost wake-ups, and a
/// listener created after the fire completes at once.
///
/// # The token always fires when the group ends
///
/// Like the `ctx` that Go's `errgroup.WithContext` returns, the token fires not
/// only on failure but also when the group simply finishes
/// ([`CancelReason::Finished`]) or is dropped ([`CancelReason::Dropped`]).
/// **Do not use it as the parent of work that must outlive the group**: a
/// background task watching this token is told to stop the moment the group's
/// `await` returns, even when everything succeeded. This is the classic Go
/// pitfall of passing the group's context to a long-lived server. Give such
/// work its own signal instead.
///
/// The other side of the same coin: `Finished` fires only once every child is
/// done, so a child that does nothing but await this token keeps a healthy
/// group open for ever. Such a child must also finish on some other signal of
/// its own (a shutdown request, the end of the work it watches).
///
/// # Examples
///
/// ```
/// use trygroup::{CancelReason, TryGroup};
/// # futures::executor::block_on(async {
/// let mut group = TryGroup::new();
/// let token = group.token();
/// group.push_with(|token| async move {
///     token.cancelled().await; // wakes when a sibling fails
///     Ok(())
/// });
/// group.push(async { Err::<(), _>("no") });
///
/// assert_eq!(group.await, Err("no"));
/// assert!(token.is_cancelled());
/// assert_eq!(token.reason(), Some(CancelReason::Failed { index: 1 }));
/// # });
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

impl CancelToken {
    /// A token that has not fired, or that already carries `reason`.
    pub(crate) fn new(reason: Option<CancelReason>) -> Self {
        let inner = Inner::default();
        if let Some(reason) = reason {
            inner.fire(reason);
        }
        CancelToken {
            inner: Arc::new(inner),
        }
    }

    /// Fires with `reason` unless the token already fired; true if this call won.
    pub(crate) fn fire(&self, reason: CancelReason) -> bool {
        self.inner.fire(reason)
    }

    /// Whether the token has fired. One atomic load, no lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let group = TryGroup::<(), ()>::new();
    /// let token = group.token();
    /// assert!(!token.is_cancelled());
    /// group.await.unwrap();
    /// assert!(token.is_cancelled()); // fires `Finished` when the group ends
    /// # });
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_fired()
    }

    /// The reason the token fired with, or `None` if it has not fired.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::{CancelReason, TryGroup};
    /// # futures::executor::block_on(async {
    /// let group = TryGroup::<(), ()>::new();
    /// let token = group.token();
    /// assert_eq!(token.reason(), None);
    /// drop(group);
    /// assert_eq!(token.reason(), Some(CancelReason::Dropped));
    /// # });
    /// ```
    #[inline]
    pub fn reason(&self) -> Option<CancelReason> {
        self.inner.reason()
    }

    /// A future that completes once the token has fired.
    ///
    /// It completes at once if the token already fired. The future is
    /// `'static` and `Send`, so it can be moved into spawned tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let group = TryGroup::<(), ()>::new();
    /// let wait = group.token().cancelled();
    /// group.await.unwrap();
    /// wait.await; // the group finished, so the token fired
    /// # });
    /// ```
    pub fn cancelled(&self) -> WaitCancelled {
        WaitCancelled {
            inner: self.inner.clone(),
            listener: None,
        }
    }

    /// Runs `fut` until it completes or the token fires, whichever is first.
    ///
    /// Returns `None` if the token fired first (checked before `fut` is
    /// polled, so an already fired token never polls `fut`), and `fut` is
    /// dropped. The name and behaviour follow `tokio_util`'s
    /// `CancellationToken::run_until_cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let mut group = TryGroup::new();
    /// group.push_with(|token| async move {
    ///     // Would wait forever, but a sibling fails.
    ///     let r = token.run_until_cancelled(futures::future::pending::<()>()).await;
    ///     assert_eq!(r, None);
    ///     Ok(())
    /// });
    /// group.push(async { Err("stop") });
    /// // `drain_on_error` lets the first child see the token and return.
    /// assert_eq!(group.drain_on_error().await, Err("stop"));
    /// # });
    /// ```
    pub async fn run_until_cancelled<F: Future>(&self, fut: F) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let mut cancelled = self.cancelled();
        std::future::poll_fn(move |cx| {
            if Pin::new(&mut cancelled).poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            fut.as_mut().poll(cx).map(Some)
        })
        .await
    }

    /// Blocks the current thread until the token fires.
    ///
    /// For plain OS threads and blocking work that must notice the group's
    /// cancellation. Never call it from inside an async task: it blocks the
    /// executor thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let group = TryGroup::<(), ()>::new();
    /// let token = group.token();
    /// let watcher = std::thread::spawn(move || {
    ///     token.wait_blocking();
    ///     token.reason()
    /// });
    /// group.await.unwrap();
    /// assert!(watcher.join().unwrap().is_some());
    /// # });
    /// ```
    pub fn wait_blocking(&self) {
        self.wait_until(None);
    }

    /// Blocks the current thread until the token fires or `timeout` passes;
    /// true if it fired. For blocking work that sleeps between steps
    /// ("wait 5 ms or until cancelled").
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trygroup::TryGroup;
    /// # futures::executor::block_on(async {
    /// let group = TryGroup::<(), ()>::new();
    /// let token = group.token();
    /// assert!(!token.wait_blocking_timeout(Duration::from_millis(1)));
    /// group.await.unwrap();
    /// assert!(token.wait_blocking_timeout(Duration::from_secs(60)));
    /// # });
    /// ```
    pub fn wait_blocking_timeout(&self, timeout: std::time::Duration) -> bool {
        // A timeout too large for an `Instant` is no timeout at all.
        self.wait_until(std::time::Instant::now().checked_add(timeout))
    }

    /// Blocks until the token fires (true) or `deadline` passes (false).
    fn wait_until(&self, deadline: Option<std::time::Instant>) -> bool {
        loop {
            if self.is_cancelled() {
                return true;
            }
            let listener = self.inner.event.listen();
            // Re-check: a fire between the first check and `listen` would
            // otherwise be missed.
            if self.is_cancelled() {
                return true;
            }
            match deadline {
                None => listener.wait(),
                Some(deadline) => {
                    if listener.wait_deadline(deadline).is_none() {
                        return self.is_cancelled();
                    }
                }
            }
        }
    }

    /// True if both tokens observe the same group.
    pub(crate) fn same(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("reason", &self.reason())
            .finish()
    }
}

/// The future returned by [`CancelToken::cancelled`]; completes when the token
/// has fired.
///
/// `'static` and `Send`. Dropping it unregisters its listener.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct WaitCancelled {
    inner: Arc<Inner>,
    listener: Option<EventListener>,
}

impl Future for WaitCancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.inner.is_fired() {
                self.listener = None;
                return Poll::Ready(());
            }
            match &mut self.listener {
                // Register first, then re-check at the top of the loop: the
                // order that makes a concurrent fire impossible to miss.
                None => self.listener = Some(self.inner.event.listen()),
                Some(listener) => {
                    futures_core::ready!(Pin::new(listener).poll(cx));
                    self.listener = None;
                }
            }
        }
    }
}

impl fmt::Debug for WaitCancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitCancelled")
            .field("reason", &self.inner.reason())
            .field("listening", &self.listener.is_some())
            .finish()
    }
}
