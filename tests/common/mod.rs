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

/// Runs `make()` to completion on every executor the crate supports:
/// `futures::executor::block_on`, `pollster`, smol, async-std, tokio
/// current-thread and tokio multi-thread.
pub fn on_every_executor<F, M>(make: M)
where
    M: Fn() -> F,
    F: Future<Output = ()>,
{
    futures::executor::block_on(make());
    pollster::block_on(make());
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
