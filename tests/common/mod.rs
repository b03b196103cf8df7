//! Helpers shared by the behaviour tests: drop-counting children, an
//! active-children gauge, and a runner over every supported executor.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Counts what happens to tracked children: polls, starts, drops, and how
/// many are alive-and-started at once (with the maximum seen).
#[derive(Default, Debug)]
pub struct Tracker {
    pub created: AtomicUsize,
    pub started: AtomicUsize,
    pub polls: AtomicUsize,
    pub finished: AtomicUsize,
    pub dropped: AtomicUsize,
    pub active: AtomicUsize,
    pub max_active: AtomicUsize,
    /// Push indices (labels) in the order children were first polled.
    pub start_order: Mutex<Vec<usize>>,
}

impl Tracker {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Wraps `fut` so its polls and its single drop are counted.
    pub fn track<F: Future>(self: &Arc<Self>, label: usize, fut: F) -> Tracked<F> {
        self.created.fetch_add(1, SeqCst);
        Tracked {
            tracker: self.clone(),
            label,
            fut: Box::pin(fut),
            started: false,
            done: false,
        }
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(SeqCst)
    }
    pub fn created(&self) -> usize {
        self.created.load(SeqCst)
    }
    pub fn started(&self) -> usize {
        self.started.load(SeqCst)
    }
    pub fn max_active(&self) -> usize {
        self.max_active.load(SeqCst)
    }
    pub fn start_order(&self) -> Vec<usize> {
        self.start_order.lock().unwrap().clone()
    }

    /// Every tracked child created so far has been dropped exactly once
    /// (double drops panic in `Tracked::drop`).
    pub fn assert_all_dropped(&self) {
        assert_eq!(
            self.dropped(),
            self.created(),
            "every child must be dropped exactly once"
        );
    }
}

/// A child wrapped by [`Tracker::track`].
pub struct Tracked<F> {
    tracker: Arc<Tracker>,
    label: usize,
    fut: Pin<Box<F>>,
    started: bool,
    done: bool,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        assert!(!self.done, "child {} polled after it completed", self.label);
        let t = self.tracker.clone();
        t.polls.fetch_add(1, SeqCst);
        if !self.started {
            self.started = true;
            t.started.fetch_add(1, SeqCst);
            t.start_order.lock().unwrap().push(self.label);
            let now = t.active.fetch_add(1, SeqCst) + 1;
            t.max_active.fetch_max(now, SeqCst);
        }
        let out = self.fut.as_mut().poll(cx);
        if out.is_ready() {
            self.done = true;
            t.finished.fetch_add(1, SeqCst);
            t.active.fetch_sub(1, SeqCst);
        }
        out
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        if self.started && !self.done {
            self.tracker.active.fetch_sub(1, SeqCst);
        }
        self.tracker.dropped.fetch_add(1, SeqCst);
    }
}

/// Returns `Pending` once (waking itself), then `Ready`.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Yields `n` times, then returns.
pub async fn yield_times(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// A strict executor: polls only after a real wake (never spuriously), and
/// fails the test on a lost wake-up, i.e. when the future is pending and
/// nothing wakes it within 10 s.
pub fn strict_block_on<F: Future>(fut: F) -> F::Output {
    strict_block_on_within(fut, std::time::Duration::from_secs(10))
}

/// [`strict_block_on`] with the time after which a missing wake-up fails.
pub fn strict_block_on_within<F: Future>(fut: F, patience: std::time::Duration) -> F::Output {
    use std::sync::Condvar;
    use std::time::Instant;

    #[derive(Default)]
    struct Signal {
        woken: Mutex<bool>,
        cv: Condvar,
    }
    impl std::task::Wake for Signal {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            *self.woken.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }

    let signal = Arc::new(Signal::default());
    let waker = std::task::Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let deadline = Instant::now() + patience;
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "lost wake-up: the future is pending and nothing woke it"
            );
            woken = signal.cv.wait_timeout(woken, left).unwrap().0;
        }
        *woken = false;
    }
}

/// Runs `make()` to completion on every executor the crate supports (and
/// first on [`strict_block_on`]):
/// `futures::executor::block_on`, `pollster`, smol, async-std, tokio
/// current-thread and tokio multi-thread.
pub fn on_every_executor<F, M>(make: M)
where
    M: Fn() -> F,
    F: Future<Output = ()>,
{
    strict_block_on(make());
    futures::executor::block_on(make());
    pollster::block_on(make());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(make());
    if cfg!(miri) {
        // The reactors of smol / async-std (async-io) and tokio's I/O driver
        // make syscalls Miri does not emulate; the executors above are enough
        // to check the crate's own code under Miri.
        return;
    }
    smol::block_on(make());
    async_std::task::block_on(make());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(make());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(make());
}

// ---- behaviour-suite helpers (appended for issue 2) ----------------------

use std::any::Any;
use std::sync::atomic::AtomicBool;
use std::task::Waker;

use trygroup::{CancelReason, Cancelled, Panicked};

/// An error type that every group feature accepts: a child's own error (its
/// label), an outside cancel, or a caught panic.
#[derive(Debug)]
pub enum TestError {
    Child(usize),
    Cancelled(Cancelled),
    Panicked(Panicked),
}

impl From<Cancelled> for TestError {
    fn from(c: Cancelled) -> Self {
        TestError::Cancelled(c)
    }
}

impl From<Panicked> for TestError {
    fn from(p: Panicked) -> Self {
        TestError::Panicked(p)
    }
}

impl TestError {
    /// The label of a child's own error.
    pub fn child(&self) -> Option<usize> {
        match self {
            TestError::Child(i) => Some(*i),
            _ => None,
        }
    }
    /// The reason of an outside cancel.
    pub fn cancelled(&self) -> Option<CancelReason> {
        match self {
            TestError::Cancelled(c) => Some(c.reason()),
            _ => None,
        }
    }
    /// The caught panic.
    pub fn panicked(&self) -> Option<&Panicked> {
        match self {
            TestError::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

/// A one-way latch a child can wait on; `open` wakes every waiter.
#[derive(Clone, Default, Debug)]
pub struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Default, Debug)]
struct GateInner {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Gate {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn open(&self) {
        self.inner.open.store(true, SeqCst);
        let wakers = std::mem::take(&mut *self.inner.wakers.lock().unwrap());
        for w in wakers {
            w.wake();
        }
    }
    pub fn is_open(&self) -> bool {
        self.inner.open.load(SeqCst)
    }
    /// Completes once the gate is open.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + Unpin + 'static {
        let inner = self.inner.clone();
        std::future::poll_fn(move |cx| {
            if inner.open.load(SeqCst) {
                return Poll::Ready(());
            }
            inner.wakers.lock().unwrap().push(cx.waker().clone());
            if inner.open.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// Polls `fut` once with a waker that does nothing.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    poll_with(fut, &waker)
}

/// Polls `fut` once with `waker`.
pub fn poll_with<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    let mut cx = Context::from_waker(waker);
    Pin::new(fut).poll(&mut cx)
}

/// The text of a panic payload (`&str` or `String`), else a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_owned()
    }
}

/// Runs `f`, returning the panic message if it panicked.
pub fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| panic_message(&*p))
}

/// Counts its own drop into a shared counter.
#[derive(Debug)]
pub struct DropCount(pub Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Panics when dropped (unless the thread is already unwinding).
#[derive(Debug)]
pub struct PanicOnDrop(pub &'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// Wakes itself and returns `Pending` for ever.
pub async fn spin_forever() {
    std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::<()>::Pending
    })
    .await
}

/// A panic payload of our own type, to check it comes back unchanged.
#[derive(Debug, PartialEq)]
pub struct MyPayload(pub u32);

/// The payload `f` panics with; fails the test if it returns instead.
pub fn unwind_of<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    }
}

/// The default proptest config (256 cases, honours `PROPTEST_CASES`); a
/// handful of cases and no regression file under Miri.
pub fn proptest_config() -> proptest::test_runner::Config {
    if cfg!(miri) {
        proptest::test_runner::Config {
            cases: 2,
            failure_persistence: None,
            ..Default::default()
        }
    } else {
        Default::default()
    }
}
