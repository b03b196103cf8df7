//! Head-to-head benchmark of `trygroup` against the ways a user would write
//! the same job with other crates (issue 5).
//!
//! ```text
//! cargo bench --bench compare                         # everything, ~3 min
//! TRYGROUP_BENCH_QUICK=1 cargo bench --bench compare  # quick mode, < 1 min
//! cargo bench --bench compare -- --only W1,W9 --peer trygroup --reps 9
//! ```
//!
//! Flags (after `--`): `--only W1,W2,..` workloads, `--peer a,b` peers (the
//! raw `FuturesUnordered` floor is always added, ratios are to it), `--n N`
//! children (groups for W9; W6 and W8 keep their own sizes unless given),
//! `--reps R` repetitions, `--callgrind` (one run of one workload and peer, no
//! warm-up: see `benches/callgrind.sh`). `TRYGROUP_BENCH_MALLOC=default` skips
//! the `mallopt` calls below (for a second pass with glibc's defaults).
//!
//! Method: a warm-up run of every peer, then `reps` repetitions in which the
//! peers run interleaved (A B C A B C ...). Each repetition gives a ratio
//! `time(peer) / time(raw FuturesUnordered)`; the table reports the median of
//! those ratios, and the median time per child. Small sizes repeat the job
//! inside one sample so that every sample covers at least `MIN_CHILDREN`
//! children. Allocation counts come from a separate, untimed run with the
//! counting allocator switched on (it costs one relaxed load per allocation
//! when off).
//!
//! W4 and W7 also run `raw-fu-made`: raw FU over children that were all boxed
//! before the set first polled them. That is the job `TryGroup::push` gives
//! a group awaited after every push: the boxes exist before any task node,
//! and the allocator places them accordingly (W7 is sensitive to that, see
//! BENCHMARKS.md). The `trygroup` (push) rows also give their ratio to it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use async_executor::{Executor, Task};
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use futures::task::AtomicWaker;
use futures::TryFutureExt;
use futures_concurrency::future::{FutureGroup, TryJoin};
use tokio::task::JoinSet;
use trygroup::{try_join_iter, TryGroup};

// ---------------------------------------------------------------------------
// The counting allocator.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Live bytes as glibc malloc holds them: each chunk is the request plus an
/// 8-byte header, rounded up to 16, at least 32.
static LIVE_CHUNK: AtomicUsize = AtomicUsize::new(0);

fn chunk(size: usize) -> usize {
    ((size + 8 + 15) & !15).max(32)
}

fn note_alloc(size: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    let live = LIVE.fetch_add(size, Relaxed).wrapping_add(size);
    LIVE_CHUNK.fetch_add(chunk(size), Relaxed);
    PEAK.fetch_max(live, Relaxed);
}

fn note_free(size: usize) {
    LIVE.fetch_sub(size, Relaxed);
    LIVE_CHUNK.fetch_sub(chunk(size), Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            note_alloc(layout.size());
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            note_alloc(layout.size());
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            note_free(layout.size());
        }
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            note_free(layout.size());
            note_alloc(new_size);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What one counted run allocated.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    /// Allocations (a `realloc` counts as one).
    allocs: usize,
    /// Live requested bytes at the measuring point (or the peak), relative to the start.
    live: usize,
    /// The same, in glibc chunk sizes.
    live_chunk: usize,
}

/// Runs `f` with counting on; `f` calls the probe it is given at the point
/// where live memory is to be read (W5), else the peak is reported.
fn counted(f: impl FnOnce(&mut dyn FnMut())) -> Mem {
    let live0 = LIVE.load(Relaxed);
    let chunk0 = LIVE_CHUNK.load(Relaxed);
    let allocs0 = ALLOCS.load(Relaxed);
    PEAK.store(live0, Relaxed);
    let mut probed = None;
    COUNTING.store(true, Relaxed);
    f(&mut || {
        probed = Some(Mem {
            allocs: ALLOCS.load(Relaxed) - allocs0,
            live: LIVE.load(Relaxed).wrapping_sub(live0),
            live_chunk: LIVE_CHUNK.load(Relaxed).wrapping_sub(chunk0),
        })
    });
    COUNTING.store(false, Relaxed);
    probed.unwrap_or(Mem {
        allocs: ALLOCS.load(Relaxed) - allocs0,
        live: PEAK.load(Relaxed).wrapping_sub(live0),
        live_chunk: 0,
    })
}

/// glibc malloc: no fastbins, no trimming, no mmap for big blocks, so freed
/// chunks do not scatter between peers and memory stays with the process.
fn stabilise_malloc() -> String {
    if std::env::var("TRYGROUP_BENCH_MALLOC").is_ok_and(|v| v == "default") {
        return "glibc malloc, default settings (TRYGROUP_BENCH_MALLOC=default)".into();
    }
    // SAFETY: `mallopt` only changes allocator tunables; called before any
    // other thread exists.
    let ok = unsafe {
        [
            libc::mallopt(libc::M_MXFAST, 0),
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX),
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20),
            libc::mallopt(libc::M_TOP_PAD, 64 << 20),
        ]
    };
    format!(
        "glibc malloc via mallopt: M_MXFAST=0 (fastbins off), M_TRIM_THRESHOLD=i32::MAX, \
         M_MMAP_THRESHOLD=32 MiB, M_TOP_PAD=64 MiB (ok: {:?})",
        ok.map(|r| r == 1)
    )
}

// ---------------------------------------------------------------------------
// Children. Hand-written futures, so every peer runs exactly the same code.

type E = usize;
type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// A child's value, folded into the checksum.
trait Value {
    fn value(self) -> usize;
}
impl Value for usize {
    fn value(self) -> usize {
        self
    }
}
impl Value for () {
    fn value(self) -> usize {
        0
    }
}

fn boxed<T, F: Future<Output = Result<T, E>> + Send + 'static>(f: F) -> BoxFut<T> {
    Box::pin(f)
}

/// W1: `Ok(i)` at the first poll.
struct Ready(usize);
impl Future for Ready {
    type Output = Result<usize, E>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(self.0))
    }
}

/// W2, W4, W6: `Pending` once (waking itself), then `Ok(i)`.
struct YieldOnce(usize, bool);
impl Future for YieldOnce {
    type Output = Result<usize, E>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.1 {
            Poll::Ready(Ok(self.0))
        } else {
            self.1 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yield_once(i: usize) -> YieldOnce {
    YieldOnce(i, false)
}

static DROPS: AtomicUsize = AtomicUsize::new(0);
static POLLS: AtomicUsize = AtomicUsize::new(0);
/// W3: children made (a lazy peer makes fewer than N).
static CREATED: AtomicUsize = AtomicUsize::new(0);

/// Counts its drop. Every peer runs on this one thread, so a plain
/// load + store (no locked instruction) is enough.
struct Dropper;
impl Drop for Dropper {
    fn drop(&mut self) {
        DROPS.store(DROPS.load(Relaxed) + 1, Relaxed);
    }
}

/// W3: errs at the first poll if `fail`, else pends forever without waking.
struct FailOrPend(usize, bool, Dropper);
impl Future for FailOrPend {
    type Output = Result<usize, E>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        if self.1 {
            Poll::Ready(Err(self.0))
        } else {
            Poll::Pending
        }
    }
}

fn fail_or_pend(n: usize) -> impl Fn(usize) -> FailOrPend {
    move |i| {
        CREATED.store(CREATED.load(Relaxed) + 1, Relaxed);
        FailOrPend(i, i == n / 2, Dropper)
    }
}

/// W5: pends forever, 8 bytes; counts its polls.
struct PendForever(usize);
impl Future for PendForever {
    type Output = Result<usize, E>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        black_box(self.0);
        POLLS.store(POLLS.load(Relaxed) + 1, Relaxed);
        Poll::Pending
    }
}

/// W8: `Ok(())` at once, zero-sized.
struct Unit;
impl Future for Unit {
    type Output = Result<(), E>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

/// W7: children finish one at a time in a scattered (fixed pseudo-random)
/// order; each completion wakes exactly the next child in that order.
struct Sparse {
    turn: AtomicUsize,
    order: Arc<[u32]>,
    pos: Arc<[u32]>,
    wakers: Box<[AtomicWaker]>,
}

fn permutation(n: usize) -> (Arc<[u32]>, Arc<[u32]>) {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut pos = vec![0u32; n];
    for (p, &i) in order.iter().enumerate() {
        pos[i as usize] = p as u32;
    }
    (order.into(), pos.into())
}

impl Sparse {
    fn new(n: usize) -> Arc<Self> {
        type Perms = Vec<(usize, Arc<[u32]>, Arc<[u32]>)>;
        static PERM: OnceLock<std::sync::Mutex<Perms>> = OnceLock::new();
        let cache = PERM.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap();
        let (order, pos) = match cache.iter().find(|(m, ..)| *m == n) {
            Some((_, o, p)) => (o.clone(), p.clone()),
            None => {
                let (o, p) = permutation(n);
                cache.push((n, o.clone(), p.clone()));
                (o, p)
            }
        };
        Arc::new(Sparse {
            turn: AtomicUsize::new(0),
            order,
            pos,
            wakers: (0..n).map(|_| AtomicWaker::new()).collect(),
        })
    }
}

/// W10: children that wait for the outside world, as I/O does. Each pends at
/// its first poll with its waker registered; a [`Drive`] polled beside the
/// job, as an executor polls its I/O driver, answers the registered requests
/// in index order, at most [`REPLIES`] per poll, waking each child it answers.
struct Reactor {
    answered: AtomicUsize,
    requested: Box<[AtomicBool]>,
    ready: Box<[AtomicBool]>,
    wakers: Box<[AtomicWaker]>,
}

/// How many requests the reactor answers per poll.
const REPLIES: usize = 16;

impl Reactor {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Reactor {
            answered: AtomicUsize::new(0),
            requested: (0..n).map(|_| AtomicBool::new(false)).collect(),
            ready: (0..n).map(|_| AtomicBool::new(false)).collect(),
            wakers: (0..n).map(|_| AtomicWaker::new()).collect(),
        })
    }
}

struct IoChild(usize, Arc<Reactor>);
impl Future for IoChild {
    type Output = Result<usize, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (i, r) = (self.0, &*self.1);
        if !r.ready[i].load(Acquire) {
            r.wakers[i].register(cx.waker());
            r.requested[i].store(true, Release);
            if !r.ready[i].load(Acquire) {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(i))
    }
}

/// The reactor's side of W10: done once every child was answered.
struct Drive(Arc<Reactor>);
impl Future for Drive {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let r = &*self.0;
        let n = r.ready.len();
        let first = r.answered.load(Relaxed);
        let mut k = first;
        while k < n && k < first + REPLIES && r.requested[k].load(Acquire) {
            r.ready[k].store(true, Release);
            r.wakers[k].wake();
            k += 1;
        }
        r.answered.store(k, Relaxed);
        if k == n {
            return Poll::Ready(());
        }
        // The outside world is always busy: come back at the next turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

struct SparseChild(usize, Arc<Sparse>);
impl Future for SparseChild {
    type Output = Result<usize, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let s = &*self.1;
        let p = s.pos[self.0] as usize;
        if s.turn.load(Relaxed) != p {
            s.wakers[self.0].register(cx.waker());
            if s.turn.load(Relaxed) != p {
                return Poll::Pending;
            }
        }
        s.turn.store(p + 1, Relaxed);
        if let Some(&next) = s.order.get(p + 1) {
            s.wakers[next as usize].wake();
        }
        Poll::Ready(Ok(self.0))
    }
}

/// Yields to the executor once (to let it drop cancelled tasks).
struct YieldNow(bool);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

// ---------------------------------------------------------------------------
// Peers.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    RawFu,
    /// Raw FU over children all boxed before the set first polls them, as a
    /// group filled by `push` before it is awaited has them (W4, W7).
    RawFuMade,
    TryJoinAll,
    TryForEach,
    BufferUnordered,
    FutureGroup,
    VecTryJoin,
    JoinSet,
    AsyncExecutor,
    TryGroup,
    TryGroupFeed,
    /// `trygroup::try_join_iter`: one iterator of same-typed children, unboxed.
    TryJoinIter,
}

const ALL_PEERS: [Peer; 12] = [
    Peer::RawFu,
    Peer::RawFuMade,
    Peer::TryJoinAll,
    Peer::TryForEach,
    Peer::BufferUnordered,
    Peer::FutureGroup,
    Peer::VecTryJoin,
    Peer::JoinSet,
    Peer::AsyncExecutor,
    Peer::TryGroup,
    Peer::TryGroupFeed,
    Peer::TryJoinIter,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::RawFu => "raw-fu",
            Peer::RawFuMade => "raw-fu-made",
            Peer::TryJoinAll => "try_join_all",
            Peer::TryForEach => "try_for_each_concurrent",
            Peer::BufferUnordered => "buffer_unordered",
            Peer::FutureGroup => "FutureGroup",
            Peer::VecTryJoin => "Vec::try_join",
            Peer::JoinSet => "JoinSet",
            Peer::AsyncExecutor => "async_executor",
            Peer::TryGroup => "trygroup",
            Peer::TryGroupFeed => "trygroup-feed",
            Peer::TryJoinIter => "try_join_iter",
        }
    }

    /// How the peer holds its children, for the table.
    fn note(self) -> &'static str {
        match self {
            Peer::RawFu => "boxed",
            Peer::RawFuMade => "boxed, all made first",
            Peer::TryJoinAll => "boxed",
            Peer::TryForEach => "unboxed",
            Peer::BufferUnordered => "unboxed",
            Peer::FutureGroup => "boxed",
            Peer::VecTryJoin => "unboxed",
            Peer::JoinSet => "spawned, tokio current-thread",
            Peer::AsyncExecutor => "spawned, FU of Tasks",
            Peer::TryGroup => "push",
            Peer::TryGroupFeed => "feed",
            Peer::TryJoinIter => "trygroup, unboxed",
        }
    }

    fn parse(s: &str) -> Option<Peer> {
        let s = s.to_ascii_lowercase().replace(['-', '_', ':'], "");
        ALL_PEERS
            .into_iter()
            .find(|p| p.name().to_ascii_lowercase().replace(['-', '_', ':'], "") == s)
            .or(match s.as_str() {
                "fu" | "raw" | "rawfu" => Some(Peer::RawFu),
                "tryforeach" | "tfec" => Some(Peer::TryForEach),
                "buffer" => Some(Peer::BufferUnordered),
                "vectryjoin" | "tryjoin" => Some(Peer::VecTryJoin),
                "executor" | "asyncexecutor" => Some(Peer::AsyncExecutor),
                "feed" => Some(Peer::TryGroupFeed),
                "unboxed" | "joiniter" => Some(Peer::TryJoinIter),
                _ => None,
            })
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime")
    })
}

static EX: Executor<'static> = Executor::new();

fn on_executor<T>(fut: impl Future<Output = T>) -> T {
    futures::executor::block_on(EX.run(fut))
}

fn block_on<T>(fut: impl Future<Output = T>) -> T {
    futures::executor::block_on(fut)
}

/// Unbounded, first-error job over `n` children made by `make`, run by `peer`;
/// returns a checksum (sum or count of values) or the first error.
/// `None`: the peer has no such job.
fn unbounded<C, T>(
    peer: Peer,
    n: usize,
    make: impl Fn(usize) -> C + Send,
) -> Option<Result<usize, E>>
where
    C: Future<Output = Result<T, E>> + Send + Unpin + 'static,
    T: Value + Send + 'static,
{
    Some(match peer {
        Peer::RawFu => block_on(async {
            let mut fu: FuturesUnordered<BoxFut<T>> = FuturesUnordered::new();
            for i in 0..n {
                fu.push(Box::pin(make(i)));
            }
            let mut sum = 0usize;
            while let Some(r) = fu.next().await {
                sum = sum.wrapping_add(r?.value());
            }
            Ok(sum)
        }),
        Peer::RawFuMade => block_on(async {
            let made: Vec<BoxFut<T>> = (0..n).map(|i| boxed(make(i))).collect();
            let mut fu: FuturesUnordered<BoxFut<T>> = FuturesUnordered::new();
            for c in made {
                fu.push(c);
            }
            let mut sum = 0usize;
            while let Some(r) = fu.next().await {
                sum = sum.wrapping_add(r?.value());
            }
            Ok(sum)
        }),
        Peer::TryJoinAll => block_on(async {
            let v = futures::future::try_join_all((0..n).map(|i| boxed(make(i)))).await?;
            Ok(v.len())
        }),
        Peer::TryForEach => block_on(async {
            stream::iter((0..n).map(|i| Ok(make(i))))
                .try_for_each_concurrent(None, |c| {
                    c.map_ok(|v| {
                        black_box(v);
                    })
                })
                .await?;
            Ok(n)
        }),
        Peer::FutureGroup => block_on(async {
            let mut g: FutureGroup<BoxFut<T>> = FutureGroup::new();
            for i in 0..n {
                g.insert(Box::pin(make(i)));
            }
            let mut sum = 0usize;
            while let Some(r) = g.next().await {
                sum = sum.wrapping_add(r?.value());
            }
            Ok(sum)
        }),
        Peer::VecTryJoin => block_on(async {
            let v: Vec<C> = (0..n).map(make).collect();
            Ok(v.try_join().await?.len())
        }),
        Peer::JoinSet => runtime().block_on(async {
            let mut set = JoinSet::new();
            for i in 0..n {
                set.spawn(make(i));
            }
            let mut sum = 0usize;
            let mut out = Ok(());
            while let Some(r) = set.join_next().await {
                match r.expect("task panicked") {
                    Ok(v) => sum = sum.wrapping_add(v.value()),
                    Err(e) => {
                        out = Err(e);
                        break;
                    }
                }
            }
            drop(set); // aborts the rest; wait until the runtime dropped them
            while out.is_err() && DROPS.load(Relaxed) < CREATED.load(Relaxed) {
                tokio::task::yield_now().await;
            }
            out.map(|()| sum)
        }),
        Peer::AsyncExecutor => on_executor(async {
            let mut fu: FuturesUnordered<Task<Result<T, E>>> =
                (0..n).map(|i| EX.spawn(make(i))).collect();
            let mut sum = 0usize;
            let mut out = Ok(());
            while let Some(r) = fu.next().await {
                match r {
                    Ok(v) => sum = sum.wrapping_add(v.value()),
                    Err(e) => {
                        out = Err(e);
                        break;
                    }
                }
            }
            drop(fu); // cancels the rest; wait until the executor dropped them
            while out.is_err() && DROPS.load(Relaxed) < CREATED.load(Relaxed) {
                YieldNow(false).await;
            }
            out.map(|()| sum)
        }),
        Peer::TryGroup => block_on(async {
            let mut g = TryGroup::new();
            for i in 0..n {
                g.push(make(i));
            }
            Ok(g.await?.len())
        }),
        Peer::TryGroupFeed => block_on(async {
            let mut g = TryGroup::new();
            g.feed((0..n).map(make));
            Ok(g.await?.len())
        }),
        Peer::TryJoinIter => block_on(async { Ok(try_join_iter((0..n).map(make)).await?.len()) }),
        Peer::BufferUnordered => return None,
    })
}

/// The same job with at most `limit` children in flight; `beside` (W10's
/// reactor) is polled alongside it until both are done.
fn limited<C, T>(
    peer: Peer,
    n: usize,
    limit: usize,
    make: impl Fn(usize) -> C + Send,
    beside: Option<Drive>,
) -> Option<Result<usize, E>>
where
    C: Future<Output = Result<T, E>> + Send + Unpin + 'static,
    T: Value + Send + 'static,
{
    Some(match peer {
        Peer::RawFu => block_on(with(
            beside,
            raw_fu_limited((0..n).map(|i| boxed(make(i))), limit),
        )),
        Peer::RawFuMade => {
            let made: Vec<BoxFut<T>> = (0..n).map(|i| boxed(make(i))).collect();
            block_on(with(beside, raw_fu_limited(made.into_iter(), limit)))
        }
        Peer::TryForEach => block_on(with(beside, async {
            stream::iter((0..n).map(|i| Ok(make(i))))
                .try_for_each_concurrent(limit, |c| {
                    c.map_ok(|v| {
                        black_box(v);
                    })
                })
                .await?;
            Ok(n)
        })),
        Peer::BufferUnordered => block_on(with(beside, async {
            let mut s = stream::iter((0..n).map(make)).buffer_unordered(limit);
            let mut sum = 0usize;
            while let Some(r) = s.next().await {
                sum = sum.wrapping_add(r?.value());
            }
            Ok(sum)
        })),
        Peer::FutureGroup => block_on(with(beside, async {
            let mut g: FutureGroup<BoxFut<T>> = FutureGroup::new();
            let mut children = (0..n).map(|i| boxed(make(i)));
            g.extend(children.by_ref().take(limit));
            let mut sum = 0usize;
            while let Some(r) = g.next().await {
                sum = sum.wrapping_add(r?.value());
                if let Some(c) = children.next() {
                    g.insert(c);
                }
            }
            Ok(sum)
        })),
        Peer::JoinSet => runtime().block_on(with(beside, async {
            let mut set = JoinSet::new();
            let mut children = (0..n).map(&make);
            for c in children.by_ref().take(limit) {
                set.spawn(c);
            }
            let mut sum = 0usize;
            while let Some(r) = set.join_next().await {
                sum = sum.wrapping_add(r.expect("task panicked")?.value());
                if let Some(c) = children.next() {
                    set.spawn(c);
                }
            }
            Ok(sum)
        })),
        // Each task is spawned as the loop takes it, as in the loop above.
        Peer::AsyncExecutor => on_executor(with(
            beside,
            raw_fu_limited((0..n).map(|i| EX.spawn(make(i))), limit),
        )),
        Peer::TryGroup => block_on(with(beside, async {
            let mut g = TryGroup::with_limit(limit);
            for i in 0..n {
                g.push(make(i));
            }
            Ok(g.await?.len())
        })),
        Peer::TryGroupFeed => block_on(with(beside, async {
            let mut g = TryGroup::with_limit(limit);
            g.feed((0..n).map(make));
            Ok(g.await?.len())
        })),
        Peer::TryJoinIter => block_on(with(beside, async {
            Ok(try_join_iter((0..n).map(make))
                .with_limit(limit)
                .await?
                .len())
        })),
        Peer::TryJoinAll | Peer::VecTryJoin => return None,
    })
}

/// Raw FU's limited loop: `limit` children in flight, the next one pushed
/// as each finishes. Children are boxed futures, or async_executor tasks.
async fn raw_fu_limited<T: Value, F: Future<Output = Result<T, E>>>(
    mut children: impl Iterator<Item = F>,
    limit: usize,
) -> Result<usize, E> {
    let mut fu: FuturesUnordered<F> = FuturesUnordered::new();
    fu.extend(children.by_ref().take(limit));
    let mut sum = 0usize;
    while let Some(r) = fu.next().await {
        sum = sum.wrapping_add(r?.value());
        if let Some(c) = children.next() {
            fu.push(c);
        }
    }
    Ok(sum)
}

/// `job`, with `beside` polled alongside until both are done.
async fn with<R>(beside: Option<Drive>, job: impl Future<Output = R>) -> R {
    match beside {
        None => job.await,
        Some(drive) => futures::join!(job, drive).0,
    }
}

/// W9: `groups` groups of three ready children each.
fn small_groups(peer: Peer, groups: usize) -> Option<usize> {
    let mut sum = 0usize;
    match peer {
        Peer::TryJoinAll => block_on(async {
            for g in 0..groups {
                let three = [boxed(Ready(g)), boxed(Ready(g + 1)), boxed(Ready(g + 2))];
                let v = futures::future::try_join_all(three).await.unwrap();
                sum = sum.wrapping_add(v[0] + v[1] + v[2]);
            }
        }),
        Peer::RawFu => block_on(async {
            for g in 0..groups {
                let mut fu: FuturesUnordered<BoxFut<usize>> = FuturesUnordered::new();
                fu.push(boxed(Ready(g)));
                fu.push(boxed(Ready(g + 1)));
                fu.push(boxed(Ready(g + 2)));
                while let Some(r) = fu.next().await {
                    sum = sum.wrapping_add(r.unwrap());
                }
            }
        }),
        Peer::FutureGroup => block_on(async {
            for g in 0..groups {
                let mut fg: FutureGroup<BoxFut<usize>> = FutureGroup::new();
                fg.insert(boxed(Ready(g)));
                fg.insert(boxed(Ready(g + 1)));
                fg.insert(boxed(Ready(g + 2)));
                while let Some(r) = fg.next().await {
                    sum = sum.wrapping_add(r.unwrap());
                }
            }
        }),
        Peer::VecTryJoin => block_on(async {
            for g in 0..groups {
                let v = vec![Ready(g), Ready(g + 1), Ready(g + 2)]
                    .try_join()
                    .await
                    .unwrap();
                sum = sum.wrapping_add(v[0] + v[1] + v[2]);
            }
        }),
        Peer::JoinSet => runtime().block_on(async {
            for g in 0..groups {
                let mut set = JoinSet::new();
                set.spawn(Ready(g));
                set.spawn(Ready(g + 1));
                set.spawn(Ready(g + 2));
                while let Some(r) = set.join_next().await {
                    sum = sum.wrapping_add(r.unwrap().unwrap());
                }
            }
        }),
        Peer::AsyncExecutor => on_executor(async {
            for g in 0..groups {
                let mut fu: FuturesUnordered<Task<Result<usize, E>>> = FuturesUnordered::new();
                fu.push(EX.spawn(Ready(g)));
                fu.push(EX.spawn(Ready(g + 1)));
                fu.push(EX.spawn(Ready(g + 2)));
                while let Some(r) = fu.next().await {
                    sum = sum.wrapping_add(r.unwrap());
                }
            }
        }),
        Peer::TryGroup => block_on(async {
            for g in 0..groups {
                let mut group = TryGroup::new();
                group.push(Ready(g));
                group.push(Ready(g + 1));
                group.push(Ready(g + 2));
                let v = group.await.unwrap();
                sum = sum.wrapping_add(v[0] + v[1] + v[2]);
            }
        }),
        Peer::TryJoinIter => block_on(async {
            for g in 0..groups {
                let v = try_join_iter([Ready(g), Ready(g + 1), Ready(g + 2)])
                    .await
                    .unwrap();
                sum = sum.wrapping_add(v[0] + v[1] + v[2]);
            }
        }),
        Peer::RawFuMade | Peer::TryForEach | Peer::BufferUnordered | Peer::TryGroupFeed => {
            return None
        }
    }
    Some(sum)
}

/// W5: builds `n` pending children, polls once so every child has started,
/// calls `probe` (live memory is read there), then drops everything.
fn pending(peer: Peer, n: usize, probe: &mut dyn FnMut()) -> Option<()> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    POLLS.store(0, Relaxed);
    match peer {
        Peer::RawFu => {
            let mut fu: FuturesUnordered<BoxFut<usize>> =
                (0..n).map(|i| boxed(PendForever(i))).collect();
            assert!(fu.poll_next_unpin(&mut cx).is_pending());
            probe();
        }
        Peer::TryJoinAll => {
            let mut f = futures::future::try_join_all((0..n).map(|i| boxed(PendForever(i))));
            assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
            probe();
        }
        Peer::TryForEach => {
            let mut f = stream::iter((0..n).map(|i| Ok(PendForever(i))))
                .try_for_each_concurrent(None, |c| c.map_ok(drop));
            assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
            probe();
        }
        Peer::FutureGroup => {
            let mut g: FutureGroup<BoxFut<usize>> = (0..n).map(|i| boxed(PendForever(i))).collect();
            assert!(g.poll_next_unpin(&mut cx).is_pending());
            probe();
        }
        Peer::VecTryJoin => {
            let mut f = (0..n).map(PendForever).collect::<Vec<_>>().try_join();
            // SAFETY: `f` is not moved until it is dropped at the end of this block.
            let mut f = unsafe { Pin::new_unchecked(&mut f) };
            assert!(f.as_mut().poll(&mut cx).is_pending());
            probe();
        }
        Peer::JoinSet => runtime().block_on(async {
            let mut set = JoinSet::new();
            for i in 0..n {
                set.spawn(PendForever(i));
            }
            while POLLS.load(Relaxed) < n {
                tokio::task::yield_now().await;
            }
            probe();
            drop(set);
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }),
        Peer::AsyncExecutor => on_executor(async {
            let mut fu: FuturesUnordered<Task<Result<usize, E>>> =
                (0..n).map(|i| EX.spawn(PendForever(i))).collect();
            while POLLS.load(Relaxed) < n {
                futures::future::poll_fn(|cx| {
                    let _ = fu.poll_next_unpin(cx);
                    Poll::Ready(())
                })
                .await;
                YieldNow(false).await;
            }
            futures::future::poll_fn(|cx| {
                let _ = fu.poll_next_unpin(cx);
                Poll::Ready(())
            })
            .await;
            probe();
            drop(fu);
            for _ in 0..4 {
                YieldNow(false).await;
            }
        }),
        Peer::TryGroup => {
            let mut g = TryGroup::new();
            for i in 0..n {
                g.push(PendForever(i));
            }
            assert!(Pin::new(&mut g).poll(&mut cx).is_pending());
            probe();
        }
        Peer::TryJoinIter => {
            let mut g = try_join_iter((0..n).map(PendForever));
            // It starts at most its poll budget of children per poll.
            while g.in_flight() < n {
                assert!(Pin::new(&mut g).poll(&mut cx).is_pending());
            }
            probe();
        }
        Peer::RawFuMade | Peer::BufferUnordered | Peer::TryGroupFeed => return None,
    }
    Some(())
}

/// W3 for `try_join_all`: above 30 children it yields in order, so an error
/// behind pending children is never seen. Checks that it is still pending
/// after a poll and asked for no wake-up: it would never return.
fn try_join_all_never_returns(n: usize) -> bool {
    let (waker, count) = futures_test::task::new_count_waker();
    let mut cx = Context::from_waker(&waker);
    let make = fail_or_pend(n);
    let mut f = futures::future::try_join_all((0..n).map(|i| boxed(make(i))));
    let pending = Pin::new(&mut f).poll(&mut cx).is_pending();
    pending && count.get() == 0
}

// ---------------------------------------------------------------------------
// Workloads.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum W {
    W1,
    W2,
    W3,
    W4,
    W5,
    W6,
    W7,
    W8,
    W9,
    W10,
}

const ALL_W: [W; 10] = [
    W::W1,
    W::W2,
    W::W3,
    W::W4,
    W::W5,
    W::W6,
    W::W7,
    W::W8,
    W::W9,
    W::W10,
];

impl W {
    fn parse(s: &str) -> Option<W> {
        ALL_W
            .into_iter()
            .find(|w| format!("{w:?}").eq_ignore_ascii_case(s))
    }

    fn title(self) -> &'static str {
        match self {
            W::W1 => "W1 ready",
            W::W2 => "W2 yield-once",
            W::W3 => "W3 fail-fast",
            W::W4 => "W4 limited (64)",
            W::W5 => "W5 memory",
            W::W6 => "W6 scale",
            W::W7 => "W7 sparse wakes",
            W::W8 => "W8 lazy feed, limit 64",
            W::W9 => "W9 groups of 3 (per group)",
            W::W10 => "W10 I/O, limited (64)",
        }
    }

    fn peers(self) -> &'static [Peer] {
        use Peer::*;
        match self {
            W::W1 | W::W2 | W::W3 => &[
                RawFu,
                TryJoinAll,
                TryForEach,
                FutureGroup,
                VecTryJoin,
                JoinSet,
                AsyncExecutor,
                TryGroup,
                TryJoinIter,
            ],
            W::W7 => &[
                RawFu,
                RawFuMade,
                TryJoinAll,
                TryForEach,
                FutureGroup,
                VecTryJoin,
                JoinSet,
                AsyncExecutor,
                TryGroup,
                TryJoinIter,
            ],
            W::W4 | W::W10 => &[
                RawFu,
                RawFuMade,
                TryForEach,
                BufferUnordered,
                FutureGroup,
                JoinSet,
                AsyncExecutor,
                TryGroup,
                TryGroupFeed,
                TryJoinIter,
            ],
            W::W5 => &[
                RawFu,
                TryJoinAll,
                TryForEach,
                FutureGroup,
                VecTryJoin,
                JoinSet,
                AsyncExecutor,
                TryGroup,
                TryJoinIter,
            ],
            W::W6 => &[RawFu, TryGroup],
            W::W8 => &[
                RawFu,
                TryForEach,
                BufferUnordered,
                TryGroupFeed,
                TryJoinIter,
            ],
            W::W9 => &[
                RawFu,
                TryJoinAll,
                FutureGroup,
                VecTryJoin,
                JoinSet,
                AsyncExecutor,
                TryGroup,
                TryJoinIter,
            ],
        }
    }
}

/// One run of workload `w` by `peer` over `n` children (groups for W9).
/// Returns a checksum, `None` if the peer has no such job.
fn job(w: W, peer: Peer, n: usize) -> Option<usize> {
    let expect_sum = n.wrapping_mul(n.wrapping_sub(1)) / 2;
    let check = |r: Option<Result<usize, E>>| {
        let v = r?.expect("no child fails here");
        assert!(
            v == n || v == expect_sum,
            "{w:?} {peer:?}: bad checksum {v}"
        );
        Some(v)
    };
    match w {
        W::W1 => check(unbounded(peer, n, Ready)),
        W::W2 | W::W6 => check(unbounded(peer, n, yield_once)),
        W::W4 => check(limited(peer, n, 64, yield_once, None)),
        W::W10 => {
            let reactor = Reactor::new(n);
            let drive = Drive(reactor.clone());
            check(limited(
                peer,
                n,
                64,
                move |i| IoChild(i, reactor.clone()),
                Some(drive),
            ))
        }
        W::W3 => {
            if peer == Peer::TryJoinAll {
                return None;
            }
            DROPS.store(0, Relaxed);
            CREATED.store(0, Relaxed);
            let r = unbounded(peer, n, fail_or_pend(n))?;
            assert_eq!(r, Err(n / 2), "{peer:?}: wrong error");
            let made = CREATED.load(Relaxed);
            assert_eq!(
                DROPS.load(Relaxed),
                made,
                "{peer:?}: not every child dropped"
            );
            Some(n)
        }
        W::W7 => {
            let sparse = Sparse::new(n);
            let make = move |i| SparseChild(i, sparse.clone());
            check(unbounded(peer, n, make))
        }
        W::W8 => {
            let r = limited(peer, n, 64, |_| Unit, None)?.expect("no child fails here");
            assert!(r == n || r == 0, "{peer:?}: bad count {r}");
            Some(r)
        }
        W::W9 => small_groups(peer, n),
        W::W5 => pending(peer, n, &mut || {}).map(|()| n),
    }
}

/// The timed entry point; `benches/callgrind.sh` collects inside it only.
#[inline(never)]
fn measured_job(w: W, peer: Peer, n: usize, iters: usize) -> Option<usize> {
    let mut sum = 0usize;
    for _ in 0..iters {
        sum = sum.wrapping_add(black_box(job(w, peer, n))?);
    }
    Some(sum)
}

// ---------------------------------------------------------------------------
// Measuring and reporting.

struct Config {
    only: Vec<W>,
    peers: Option<Vec<Peer>>,
    n: Option<usize>,
    reps: usize,
    quick: bool,
    callgrind: bool,
    min_children: usize,
}

fn parse_args() -> Config {
    let quick = std::env::var("TRYGROUP_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut cfg = Config {
        only: ALL_W.to_vec(),
        peers: None,
        n: None,
        reps: if quick { 7 } else { 11 },
        quick,
        callgrind: false,
        min_children: if quick { 100_000 } else { 200_000 },
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--only" => {
                cfg.only = value()
                    .split(',')
                    .map(|s| W::parse(s).unwrap_or_else(|| panic!("unknown workload {s}")))
                    .collect()
            }
            "--peer" | "--peers" => {
                cfg.peers = Some(
                    value()
                        .split(',')
                        .map(|s| Peer::parse(s).unwrap_or_else(|| panic!("unknown peer {s}")))
                        .collect(),
                )
            }
            "--n" => cfg.n = Some(value().replace('_', "").parse().expect("--n N")),
            "--reps" => cfg.reps = value().parse().expect("--reps R"),
            "--quick" => {
                cfg.quick = true;
                cfg.reps = 7;
                cfg.min_children = 100_000;
            }
            "--callgrind" => cfg.callgrind = true,
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    cfg
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A row of the table.
struct Row {
    workload: String,
    peer: Peer,
    n: usize,
    /// Median ns per child (per group for W9).
    ns: Option<f64>,
    /// Median of per-repetition ratios to raw FU, and the (min, max) of them.
    ratio: Option<(f64, f64, f64)>,
    mem: Option<Mem>,
    /// Text instead of a time (e.g. "never returns").
    text: Option<String>,
    target: String,
    verdict: String,
}

/// A median (min, max) of per-repetition ratios.
type Ratio = (f64, f64, f64);

/// A peer's median ns per child, and its [`Ratio`] to raw FU.
type Timed = (Peer, f64, Ratio);

/// Times `peers` on workload `w` at `n` children, interleaved. The second
/// list: each peer's median (min, max) of per-repetition ratios to
/// `raw-fu-made`, if that peer ran.
fn time_peers(cfg: &Config, w: W, n: usize, peers: &[Peer]) -> Vec<Timed> {
    time_peers_made(cfg, w, n, peers).0
}

fn time_peers_made(
    cfg: &Config,
    w: W,
    n: usize,
    peers: &[Peer],
) -> (Vec<Timed>, Vec<(Peer, Ratio)>) {
    // Runs of a million children and more are long enough to need fewer repetitions.
    let reps = if n >= 1_000_000 {
        cfg.reps.min(if cfg.quick { 3 } else { 5 })
    } else {
        cfg.reps
    };
    time_peers_iters(w, n, peers, cfg.min_children.div_ceil(n).max(1), reps)
}

fn time_peers_iters(
    w: W,
    n: usize,
    peers: &[Peer],
    iters: usize,
    reps: usize,
) -> (Vec<Timed>, Vec<(Peer, Ratio)>) {
    let run = |p: Peer| {
        let start = Instant::now();
        measured_job(w, p, n, iters).expect("peer runs this workload");
        start.elapsed().as_secs_f64() * 1e9 / (n * iters) as f64
    };
    for &p in peers {
        run(p); // warm-up
    }
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    for _ in 0..reps {
        for (k, &p) in peers.iter().enumerate() {
            ns[k].push(run(p));
        }
    }
    let position = |base| peers.iter().position(|&p| p == base);
    let (raw, made) = (position(Peer::RawFu), position(Peer::RawFuMade));
    let vs_made = match made {
        Some(m) => (0..peers.len())
            .map(|k| (peers[k], ratio_stats(&ns[k], Some(&ns[m]))))
            .collect(),
        None => Vec::new(),
    };
    let timed = (0..peers.len())
        .map(|k| {
            let ratio = ratio_stats(&ns[k], raw.map(|b| &ns[b][..]));
            (peers[k], median(&mut ns[k].clone()), ratio)
        })
        .collect();
    (timed, vs_made)
}

/// The median (min, max) of per-repetition ratios of `ns` to `base`.
fn ratio_stats(ns: &[f64], base: Option<&[f64]>) -> Ratio {
    let mut ratios: Vec<f64> = match base {
        Some(base) => ns.iter().zip(base).map(|(a, b)| a / b).collect(),
        None => vec![f64::NAN],
    };
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(&mut ratios), lo, hi)
}

fn count_allocs(w: W, peer: Peer, n: usize) -> Mem {
    counted(|_| {
        black_box(job(w, peer, n));
    })
}

fn selected(cfg: &Config, w: W) -> Vec<Peer> {
    let mut peers: Vec<Peer> = w
        .peers()
        .iter()
        .copied()
        .filter(|p| cfg.peers.as_ref().is_none_or(|s| s.contains(p)))
        .collect();
    if !peers.contains(&Peer::RawFu) {
        peers.insert(0, Peer::RawFu);
    }
    peers
}

fn fmt_ratio(r: Option<(f64, f64, f64)>) -> String {
    match r {
        Some((m, lo, hi)) if m.is_finite() => format!("{m:.2}× ({lo:.2}–{hi:.2})"),
        _ => "—".into(),
    }
}

fn pass(ok: bool) -> String {
    if ok { "PASS" } else { "MISS" }.into()
}

/// Rows for the timed workloads W1–W4, W7, W10.
fn timed_rows(cfg: &Config, w: W, rows: &mut Vec<Row>) {
    // Quick mode runs the costly sparse-wake workload at a fifth of N.
    let n = cfg.n.unwrap_or(if cfg.quick && w == W::W7 {
        20_000
    } else {
        100_000
    });
    let peers = selected(cfg, w);
    // Vec::try_join and FutureGroup scan every child on every wake: W7 is
    // quadratic for them, so they run it at N/20.
    // try_join_all never returns on W3: checked separately below.
    let (fast, slow): (Vec<Peer>, Vec<Peer>) = peers
        .iter()
        .filter(|&&p| !(w == W::W3 && p == Peer::TryJoinAll))
        .partition(|&&p| w != W::W7 || !matches!(p, Peer::VecTryJoin | Peer::FutureGroup));
    let (mut timed, vs_made) = time_peers_made(cfg, w, n, &fast);
    let mut slow_n = n;
    if !slow.is_empty() {
        slow_n = (n / 20).max(1);
        let mut with_base = vec![Peer::RawFu];
        with_base.extend(&slow);
        // One run per sample and few samples: these peers are quadratic here.
        let (t, _) = time_peers_iters(w, slow_n, &with_base, 1, cfg.reps.min(5));
        timed.extend(t.into_iter().filter(|(p, ..)| *p != Peer::RawFu));
    }
    if w == W::W3 && peers.contains(&Peer::TryJoinAll) {
        let never = try_join_all_never_returns(n);
        rows.push(Row {
            workload: w.title().into(),
            peer: Peer::TryJoinAll,
            n,
            ns: None,
            ratio: None,
            mem: None,
            text: Some(if never {
                "never returns (pending, no wake-up)".into()
            } else {
                "returned?!".into()
            }),
            target: String::new(),
            verdict: String::new(),
        });
    }
    for &p in &peers {
        let Some(&(_, ns, ratio)) = timed.iter().find(|t| t.0 == p) else {
            continue;
        };
        let pn = if slow.contains(&p) { slow_n } else { n };
        let mem = count_allocs(w, p, pn);
        let (target, verdict) = match p {
            Peer::TryGroup | Peer::TryGroupFeed => {
                let ahead = ahead_of(&timed, ratio.0);
                // `push` makes every child before the group runs: also
                // compare with raw FU doing the same.
                let made = match vs_made.iter().find(|m| m.0 == p) {
                    Some(&(_, r)) if p == Peer::TryGroup => {
                        format!("; {} raw-fu-made", fmt_ratio(Some(r)))
                    }
                    _ => String::new(),
                };
                (
                    "≤ 1.05× raw FU; ahead of JoinSet, async_executor, FutureGroup, try_join_all"
                        .into(),
                    format!("{}{}{}", pass(ratio.0 <= 1.05), ahead, made),
                )
            }
            Peer::TryJoinIter => (
                "stretch: ahead of Vec::try_join, try_for_each_concurrent".into(),
                ahead_of_peers(&timed, ratio.0, &[Peer::VecTryJoin, Peer::TryForEach])
                    .trim_start_matches(", ")
                    .into(),
            ),
            _ => (String::new(), String::new()),
        };
        rows.push(Row {
            workload: if pn != n {
                format!("{} (N/20: O(N) per wake)", w.title())
            } else {
                w.title().into()
            },
            peer: p,
            n: pn,
            ns: Some(ns),
            ratio: Some(ratio),
            mem: Some(mem),
            text: None,
            target,
            verdict,
        });
    }
}

/// ", ahead" or ", behind X, Y": the row's own ratio `tg` against the
/// peers the target names.
fn ahead_of(timed: &[Timed], tg: f64) -> String {
    ahead_of_peers(
        timed,
        tg,
        &[
            Peer::JoinSet,
            Peer::AsyncExecutor,
            Peer::FutureGroup,
            Peer::TryJoinAll,
        ],
    )
}

/// [`ahead_of`] against the given peers.
fn ahead_of_peers(timed: &[Timed], tg: f64, peers: &[Peer]) -> String {
    let behind: Vec<&str> = timed
        .iter()
        .filter(|(p, ..)| peers.contains(p))
        .filter(|(_, _, r)| r.0 < tg)
        .map(|(p, ..)| p.name())
        .collect();
    if behind.is_empty() {
        ", ahead".into()
    } else {
        format!(", behind {}", behind.join(", "))
    }
}

fn run_all(cfg: &Config) -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for &w in &cfg.only {
        let t0 = Instant::now();
        match w {
            W::W1 | W::W2 | W::W3 | W::W4 | W::W7 | W::W10 => timed_rows(cfg, w, &mut rows),
            W::W5 => {
                let n = cfg.n.unwrap_or(100_000);
                for p in selected(cfg, w) {
                    let mem = counted(|probe| {
                        pending(p, n, probe);
                    });
                    let per = |x: usize| x as f64 / n as f64;
                    let (target, verdict) = if p == Peer::TryGroup {
                        // Per child, as printed: the group's own one-off
                        // allocations spread over N do not count.
                        let ok = (per(mem.live) * 10.0).round() <= 1040.0
                            && (per(mem.allocs) * 100.0).round() <= 200.0;
                        ("≤ 104 B and ≤ 2 allocations per child".into(), pass(ok))
                    } else {
                        (String::new(), String::new())
                    };
                    rows.push(Row {
                        workload: w.title().into(),
                        peer: p,
                        n,
                        ns: None,
                        ratio: None,
                        mem: Some(mem),
                        text: Some(format!(
                            "{:.1} B requested, {:.1} B in malloc chunks, {:.2} allocs",
                            per(mem.live),
                            per(mem.live_chunk),
                            per(mem.allocs)
                        )),
                        target,
                        verdict,
                    });
                }
            }
            W::W6 => {
                let sizes: Vec<usize> = match cfg.n {
                    Some(n) => vec![n],
                    None => vec![1_000, 10_000, 100_000, 1_000_000],
                };
                let peers = selected(cfg, w);
                let mut per_peer: Vec<(Peer, Vec<f64>, Vec<f64>)> =
                    peers.iter().map(|&p| (p, Vec::new(), Vec::new())).collect();
                for &n in &sizes {
                    let timed = time_peers(cfg, w, n, &peers);
                    for (p, ns, ratio) in timed {
                        let entry = per_peer.iter_mut().find(|e| e.0 == p).unwrap();
                        entry.1.push(ns);
                        entry.2.push(ratio.0);
                        let mem = count_allocs(w, p, n);
                        rows.push(Row {
                            workload: format!("W6 scale, N={n}"),
                            peer: p,
                            n,
                            ns: Some(ns),
                            ratio: Some(ratio),
                            mem: Some(mem),
                            text: None,
                            target: String::new(),
                            verdict: String::new(),
                        });
                    }
                }
                // Relative to the first size: the largest deviation, and the
                // spread as text.
                let flatness = |v: &[f64]| {
                    let worst = v
                        .iter()
                        .map(|t| (t / v[0] - 1.0).abs())
                        .fold(0.0f64, f64::max);
                    let spread: Vec<String> =
                        v.iter().map(|t| format!("{:.2}", t / v[0])).collect();
                    (worst, spread.join(" / "))
                };
                for (p, ns, ratios) in per_peer {
                    let (worst, spread) = flatness(&ns);
                    // On this machine the floor itself is not flat in wall
                    // time (cache and allocator effects move raw FU by tens
                    // of percent between sizes), so the verdict judges what
                    // trygroup adds on top of it: its ratio to raw FU, which
                    // a per-poll scan of all children would make grow with N.
                    let (target, verdict, over_floor) = if p == Peer::TryGroup {
                        let (worst_ratio, ratio_spread) = flatness(&ratios);
                        (
                            "flat within ±15 % from 1k to 1M (ratio to raw FU; ns/child shown too)"
                                .into(),
                            pass(worst_ratio <= 0.15),
                            format!(
                                "; ratio to raw FU relative to N={}: {ratio_spread} (worst {:+.0} %)",
                                sizes[0],
                                worst_ratio * 100.0
                            ),
                        )
                    } else {
                        (String::new(), String::new(), String::new())
                    };
                    rows.push(Row {
                        workload: "W6 scale, flatness".into(),
                        peer: p,
                        n: *sizes.last().unwrap(),
                        ns: None,
                        ratio: None,
                        mem: None,
                        text: Some(format!(
                            "ns/child relative to N={}: {spread} (worst {:+.0} %){over_floor}",
                            sizes[0],
                            worst * 100.0
                        )),
                        target,
                        verdict,
                    });
                }
            }
            W::W8 => {
                let sizes: Vec<usize> = match (cfg.n, cfg.quick) {
                    (Some(n), _) => vec![n],
                    (None, true) => vec![100_000, 1_000_000],
                    (None, false) => vec![1_000_000, 10_000_000],
                };
                let peers = selected(cfg, w);
                let mut peaks: Vec<(Peer, Vec<usize>)> =
                    peers.iter().map(|&p| (p, Vec::new())).collect();
                for &n in &sizes {
                    let timed = time_peers(cfg, w, n, &peers);
                    for (p, ns, ratio) in timed {
                        let mem = count_allocs(w, p, n);
                        peaks
                            .iter_mut()
                            .find(|e| e.0 == p)
                            .unwrap()
                            .1
                            .push(mem.live);
                        rows.push(Row {
                            workload: format!("W8 lazy feed, N={n}"),
                            peer: p,
                            n,
                            ns: Some(ns),
                            ratio: Some(ratio),
                            mem: Some(mem),
                            text: None,
                            target: String::new(),
                            verdict: String::new(),
                        });
                    }
                }
                for (p, peak) in peaks {
                    let max = *peak.iter().max().unwrap();
                    let min = *peak.iter().min().unwrap();
                    let (target, verdict) = if p == Peer::TryGroupFeed {
                        (
                            "peak the same at both N, < 1 MiB".into(),
                            pass(max < 1 << 20 && max - min <= 4096.max(min / 20)),
                        )
                    } else {
                        (String::new(), String::new())
                    };
                    let list: Vec<String> = peak
                        .iter()
                        .zip(&sizes)
                        .map(|(b, n)| format!("{:.1} KiB at N={n}", *b as f64 / 1024.0))
                        .collect();
                    rows.push(Row {
                        workload: "W8 peak live memory".into(),
                        peer: p,
                        n: *sizes.last().unwrap(),
                        ns: None,
                        ratio: None,
                        mem: None,
                        text: Some(list.join(", ")),
                        target,
                        verdict,
                    });
                }
            }
            W::W9 => {
                let groups = cfg.n.unwrap_or(100_000);
                let peers = selected(cfg, w);
                let timed = time_peers(cfg, w, groups, &peers);
                let tja = timed.iter().find(|t| t.0 == Peer::TryJoinAll).map(|t| t.1);
                for (p, ns, ratio) in timed.iter().copied() {
                    let mem = count_allocs(w, p, 10_000);
                    let mem = Mem {
                        allocs: mem.allocs,
                        live: mem.live,
                        live_chunk: 0,
                    };
                    let vs_tja = tja.map(|t| ns / t);
                    let (target, verdict) = if p == Peer::TryGroup {
                        let per_group = mem.allocs as f64 / 10_000.0;
                        (
                            "≤ 1.5× try_join_all, ≤ 5 allocations per group".into(),
                            format!(
                                "{}{}",
                                pass(vs_tja.is_some_and(|r| r <= 1.5) && per_group <= 5.0),
                                ahead_of(&timed, ratio.0)
                            ),
                        )
                    } else {
                        (String::new(), String::new())
                    };
                    rows.push(Row {
                        workload: w.title().into(),
                        peer: p,
                        n: groups,
                        ns: Some(ns),
                        ratio: Some(ratio),
                        mem: Some(Mem {
                            allocs: mem.allocs * groups / 10_000,
                            ..mem
                        }),
                        text: vs_tja.map(|r| format!("{r:.2}× try_join_all")),
                        target,
                        verdict,
                    });
                }
            }
        }
        let note = format!("{} took {:.1} s", w.title(), t0.elapsed().as_secs_f64());
        eprintln!("{note}");
        notes.push(note);
    }
    (rows, notes)
}

fn print_table(rows: &[Row]) {
    println!(
        "| workload | peer | N | ns/child (median) | ratio to raw FU: median (min–max) | allocs/child | bytes/child | note | target | verdict |"
    );
    println!("|---|---|---:|---:|---|---:|---:|---|---|---|");
    for r in rows {
        let per = |x: usize| x as f64 / r.n as f64;
        let (allocs, bytes) = match (&r.mem, r.workload.starts_with("W5")) {
            (Some(m), false) => (format!("{:.2}", per(m.allocs)), String::new()),
            (Some(m), true) => (
                format!("{:.2}", per(m.allocs)),
                format!("{:.1}", per(m.live)),
            ),
            (None, _) => (String::new(), String::new()),
        };
        let bytes = if r.workload.starts_with("W8 lazy") {
            r.mem
                .map(|m| format!("peak {:.1} KiB", m.live as f64 / 1024.0))
                .unwrap_or_default()
        } else {
            bytes
        };
        let note = match &r.text {
            Some(t) => format!("{}; {}", r.peer.note(), t),
            None => r.peer.note().into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.peer.name(),
            r.n,
            r.ns.map(|v| format!("{v:.1}"))
                .unwrap_or_else(|| "—".into()),
            fmt_ratio(r.ratio),
            allocs,
            bytes,
            note,
            r.target,
            r.verdict
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let malloc = stabilise_malloc();
    let cfg = parse_args();
    runtime(); // built outside any measurement
    if cfg.callgrind {
        let w = cfg.only[0];
        let peer = cfg
            .peers
            .as_ref()
            .and_then(|p| p.first().copied())
            .unwrap_or(Peer::TryGroup);
        let n = cfg.n.unwrap_or(100_000);
        let r = measured_job(w, peer, n, 1);
        println!(
            "callgrind: {:?} {} n={} -> {}",
            w,
            peer.name(),
            n,
            if r.is_some() { "ok" } else { "n/a" }
        );
        return;
    }
    let t0 = Instant::now();
    let (rows, notes) = run_all(&cfg);
    println!();
    println!(
        "## trygroup vs peers ({} mode, {} repetitions, interleaved)",
        if cfg.quick { "quick" } else { "full" },
        cfg.reps
    );
    println!();
    println!(
        "* machine: {} × {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::env::consts::ARCH
    );
    println!("* allocator: {malloc}");
    println!(
        "* method: warm-up, then {} repetitions A B C A B C …; ratio = median of per-repetition \
         time(peer)/time(raw FU); every sample covers ≥ {} children; allocations from a separate \
         counted run",
        cfg.reps, cfg.min_children
    );
    println!(
        "* children: hand-written futures (`Ready`, `YieldOnce`, …), `E = usize`; \
         in-place peers on `futures::executor::block_on`"
    );
    println!();
    print_table(&rows);
    println!();
    for n in notes {
        println!("* {n}");
    }
    println!("* total {:.1} s", t0.elapsed().as_secs_f64());
}
