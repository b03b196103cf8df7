//! Allocation counts that the design promises, with a counting global
//! allocator (deterministic, unlike timings): a child that finishes at its
//! first poll costs its box and nothing else, also beyond the inline slots;
//! a child that pends costs its box and one task node in the set.
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::task::{Context, Poll};
use trygroup::TryGroup;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to `System`; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests of this file count the process-wide allocations: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Allocations made while `f` runs.
fn allocations(f: impl FnOnce()) -> usize {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = ALLOCATIONS.load(SeqCst);
    f();
    ALLOCATIONS.load(SeqCst) - before
}

/// `Ok(i)` at its first poll.
struct Ready(usize);
impl Future for Ready {
    type Output = Result<usize, ()>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(self.0))
    }
}

/// Pends once, waking itself through a clone of the waker that it keeps (as
/// a registered I/O waker is kept), then `Ok(i)`.
struct WaitOnce(usize, Option<std::task::Waker>);
impl Future for WaitOnce {
    type Output = Result<usize, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.1.take() {
            Some(_) => Poll::Ready(Ok(self.0)),
            None => {
                let waker = cx.waker().clone();
                self.1 = Some(waker.clone());
                waker.wake();
                Poll::Pending
            }
        }
    }
}

const N: usize = if cfg!(miri) { 200 } else { 10_000 };

#[test]
fn a_child_ready_at_its_first_poll_costs_its_box_and_nothing_else() {
    let made = allocations(|| {
        let group: TryGroup<'_, usize, ()> = (0..N).map(Ready).collect();
        let values = futures::executor::block_on(group).unwrap();
        assert_eq!(values, (0..N).collect::<Vec<_>>());
    });
    // N boxes, plus a few per group: the set, the fresh queue's growth
    // (doubling: about log2(N)), the output, the executor. A task node per
    // child would make it 2N.
    assert!(
        made <= N + 64,
        "{made} allocations for {N} ready children: more than their boxes"
    );
}

#[test]
fn a_child_that_pends_costs_its_box_and_one_task_node() {
    let made = allocations(|| {
        let group: TryGroup<'_, usize, ()> = (0..N).map(|i| WaitOnce(i, None)).collect();
        let values = futures::executor::block_on(group).unwrap();
        assert_eq!(values, (0..N).collect::<Vec<_>>());
    });
    assert!(
        made >= 2 * N,
        "{made} allocations: a pending child has a task node"
    );
    assert!(
        made <= 2 * N + 64,
        "{made} allocations for {N} pending children: more than box + task"
    );
}
