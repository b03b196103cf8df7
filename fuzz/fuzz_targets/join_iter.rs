//! Fuzzes `try_join_iter`: up to 64 scripted children (ready, yields, waits
//! for a sibling's completion / the driver / another thread, stale waker
//! clones, failures, panics, `Drop` panics, children that pend for ever),
//! an optional limit, and a schedule for a strict driver (outside wakes,
//! waker changes, a drop of the group mid-flight). Checked against a model:
//! the outcome and who decided it, the token's reason, the limit, first polls
//! in iterator order, every child and the iterator dropped exactly once (and
//! before the outcome is handed back), the per-poll budget, no lost wake-up.
//!
//! Input format (hand-written `Arbitrary`, one byte at a time, missing bytes
//! read as 0, so seeds are easy to write by hand):
//!
//! ```text
//! [limit] [drop_at] [token_at] [schedule_len] schedule... child...
//! limit:    b % 9; 0 = no limit, else `with_limit(b % 9)`
//! drop_at:  b < 200: never; else drop the group after poll b - 200
//! token_at: take a second token just before poll b
//! schedule: schedule_len % 33 bytes, one per Pending poll (see `ev`)
//! child:    [head] step * (head >> 5)
//!   head & 7:  0,1,2,7 Ok; 3 Err; 4 panic; 5 pend for ever, untouched;
//!              6 pend for ever after cloning (and dropping) the waker
//!   head & 0x18 == 0x18: its `Drop` panics
//!   step & 7:  0 yield n (wake_by_ref); 1 yield n (clone().wake());
//!              2 wait for a sibling's completion; 3, 6 wait for the driver;
//!              4 wait for the helper thread; 5 stash a woken clone (stale);
//!              7 yield 8 * n
//!   n = (step >> 3) + 1
//! ```
#![no_main]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};

use arbitrary::{Arbitrary, Unstructured};
use futures_core::FusedFuture;
use libfuzzer_sys::fuzz_target;
use trygroup::{try_join_iter, CancelReason, CancelToken, TryJoinIter};

/// The documented budget of one poll of the group.
const BUDGET: usize = 256;
const MAX_CHILDREN: usize = 64;
const MAX_STEPS: u8 = 7;
const MAX_GROUP_POLLS: usize = 200_000;
const STASH_MAX: usize = 16;

// ---- the input -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Terminal {
    Ok,
    Err,
    Panic,
    /// Pending for ever, waker untouched.
    Untouched,
    /// Pending for ever; clones the waker and drops the clone.
    CloneDrop,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum BoardId {
    Sibling,
    Driver,
    Thread,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    /// `n` Pending polls, each waking the waker first.
    Yield { n: u32, by_clone: bool },
    /// One registration: pending until the board is released once after
    /// the step began.
    Wait(BoardId),
    /// One Pending poll: wakes a clone of the waker and keeps it (stashed;
    /// the driver wakes stale stashed wakers at random).
    Stash,
}

#[derive(Clone, Debug)]
struct Script {
    steps: Vec<Step>,
    terminal: Terminal,
    drop_panics: bool,
}

#[derive(Clone, Debug)]
struct Input {
    limit: Option<usize>,
    drop_at: Option<usize>,
    token_at: usize,
    schedule: Vec<u8>,
    children: Vec<Script>,
}

/// Schedule bits, applied after a Pending poll.
mod ev {
    pub const RELEASE_DRIVER: u8 = 0x01;
    pub const RELEASE_THREAD_ASYNC: u8 = 0x02;
    pub const RELEASE_THREAD_SYNC: u8 = 0x04;
    pub const WAKE_STASH: u8 = 0x08;
    pub const RELEASE_SIBLING: u8 = 0x10;
    pub const SWITCH_WAKER: u8 = 0x20;
    pub const CLEAR_STASH: u8 = 0x40;
    pub const JOIN_THREAD: u8 = 0x80;
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let byte = |u: &mut Unstructured<'a>| u8::arbitrary(u);
        let limit = match byte(u)? % 9 {
            0 => None,
            n => Some(n as usize),
        };
        let drop_at = match byte(u)? {
            b if b >= 200 => Some((b - 200) as usize),
            _ => None,
        };
        let token_at = byte(u)? as usize;
        let len = byte(u)? % 33;
        let mut schedule = Vec::with_capacity(len as usize);
        for _ in 0..len {
            schedule.push(byte(u)?);
        }
        let mut children = Vec::new();
        while !u.is_empty() && children.len() < MAX_CHILDREN {
            let head = byte(u)?;
            let terminal = match head & 7 {
                3 => Terminal::Err,
                4 => Terminal::Panic,
                5 => Terminal::Untouched,
                6 => Terminal::CloneDrop,
                _ => Terminal::Ok,
            };
            let drop_panics = head & 0x18 == 0x18;
            let mut steps = Vec::new();
            for _ in 0..(head >> 5).min(MAX_STEPS) {
                let s = byte(u)?;
                let n = (s >> 3) as u32 + 1;
                steps.push(match s & 7 {
                    0 => Step::Yield { n, by_clone: false },
                    1 => Step::Yield { n, by_clone: true },
                    2 => Step::Wait(BoardId::Sibling),
                    3 | 6 => Step::Wait(BoardId::Driver),
                    4 => Step::Wait(BoardId::Thread),
                    5 => Step::Stash,
                    _ => Step::Yield {
                        n: n * 8,
                        by_clone: false,
                    },
                });
            }
            children.push(Script {
                steps,
                terminal,
                drop_panics,
            });
        }
        Ok(Input {
            limit,
            drop_at,
            token_at,
            schedule,
            children,
        })
    }
}

// ---- the outside world -------------------------------------------------------

/// Registrations of waiting children (one per child, replaced at every
/// pending poll, removed when the child stops waiting or is dropped, as a
/// channel or timer would), all woken by one `release`.
#[derive(Default)]
struct Board {
    epoch: AtomicUsize,
    waiters: Mutex<Vec<(usize, Waker)>>,
}

impl Board {
    fn epoch(&self) -> usize {
        self.epoch.load(SeqCst)
    }

    fn register(&self, id: usize, waker: &Waker) {
        let mut w = self.waiters.lock().unwrap();
        match w.iter_mut().find(|(i, _)| *i == id) {
            Some((_, old)) => old.clone_from(waker),
            None => w.push((id, waker.clone())),
        }
    }

    fn deregister(&self, id: usize) {
        let removed: Vec<_> = {
            let mut w = self.waiters.lock().unwrap();
            let (gone, keep) = std::mem::take(&mut *w)
                .into_iter()
                .partition(|(i, _)| *i == id);
            *w = keep;
            gone
        };
        drop(removed); // outside the lock
    }

    fn waiting(&self) -> usize {
        self.waiters.lock().unwrap().len()
    }

    /// Advances the epoch, then wakes (outside the lock) every registration.
    fn release(&self) {
        self.epoch.fetch_add(1, SeqCst);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap());
        for (_, waker) in waiters {
            waker.wake();
        }
    }
}

#[derive(Default)]
struct Boards {
    sibling: Board,
    driver: Board,
    thread: Arc<Board>,
}

impl Boards {
    fn get(&self, id: BoardId) -> &Board {
        match id {
            BoardId::Sibling => &self.sibling,
            BoardId::Driver => &self.driver,
            BoardId::Thread => &self.thread,
        }
    }
}

/// Releases the thread board from another thread. Started at the first
/// request, joined at the end of the input.
struct Helper {
    board: Arc<Board>,
    worker: Option<(
        mpsc::Sender<()>,
        mpsc::Receiver<()>,
        std::thread::JoinHandle<()>,
    )>,
    outstanding: usize,
}

impl Helper {
    fn new(board: Arc<Board>) -> Self {
        Helper {
            board,
            worker: None,
            outstanding: 0,
        }
    }

    /// Asks for a release and returns at once: it races the next poll.
    fn release_async(&mut self) {
        let board = self.board.clone();
        let (tx, _, _) = self.worker.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<()>();
            let (ack_tx, ack_rx) = mpsc::channel::<()>();
            let handle = std::thread::spawn(move || {
                while rx.recv().is_ok() {
                    board.release();
                    let _ = ack_tx.send(());
                }
            });
            (tx, ack_rx, handle)
        });
        tx.send(()).expect("helper thread alive");
        self.outstanding += 1;
    }

    /// Waits until every release asked for is done.
    fn join(&mut self) {
        if let Some((_, ack, _)) = &self.worker {
            for _ in 0..self.outstanding {
                ack.recv().expect("helper thread alive");
            }
        }
        self.outstanding = 0;
    }

    fn release_sync(&mut self) {
        self.release_async();
        self.join();
    }

    fn shutdown(&mut self) {
        self.join();
        if let Some((tx, _, handle)) = self.worker.take() {
            drop(tx);
            handle.join().expect("helper thread");
        }
    }
}

/// The group's waker: counts wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ---- bookkeeping ---------------------------------------------------------------

/// Payload of a child's panic in `poll`.
struct ChildPanic(usize);
/// Payload of a child's panic in `Drop`.
struct DropPanic(usize);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Returned {
    Ok,
    Err,
    Panicked,
}

#[derive(Default, Clone, Debug)]
struct Rec {
    started: bool,
    returned: Option<Returned>,
    drops: u32,
    /// Reached a pend-for-ever terminal.
    forever: bool,
    /// Global sequence number of its last poll.
    last_poll: u64,
}

struct State {
    scripts: Vec<Script>,
    cap: usize,
    recs: RefCell<Vec<Rec>>,
    created: Cell<usize>,
    live: Cell<usize>,
    max_live: Cell<usize>,
    start_order: RefCell<Vec<usize>>,
    /// Children that returned `Ready` and are not dropped yet.
    completed_undropped: Cell<usize>,
    poll_seq: Cell<u64>,
    /// Children first polled / polled again during the current group poll,
    /// and how many distinct children were polled.
    starts_now: Cell<usize>,
    later_now: Cell<usize>,
    distinct_now: Cell<usize>,
    group_poll: Cell<u64>,
    iter_drops: Cell<usize>,
    stash: RefCell<Vec<Waker>>,
    violations: RefCell<Vec<String>>,
    /// Set once the group has ended or been dropped: no child may be polled.
    over: Cell<bool>,
}

impl State {
    fn violation(&self, msg: String) {
        self.violations.borrow_mut().push(msg);
    }
}

struct IterGuard(Rc<State>);

impl Drop for IterGuard {
    fn drop(&mut self) {
        let d = self.0.iter_drops.get() + 1;
        self.0.iter_drops.set(d);
        if d > 1 {
            self.0.violation(format!("the iterator dropped {d} times"));
        }
    }
}

/// One child: runs its script.
struct Child {
    id: usize,
    st: Rc<State>,
    boards: Arc<Boards>,
    step: usize,
    /// Yields done in the current step / whether the stash step pended.
    count: u32,
    /// Epoch the current wait step waits for.
    target: Option<usize>,
    /// Group poll of its last poll (for `distinct_now`).
    seen_in: u64,
}

type Out = Result<Box<u64>, Box<usize>>;

impl Child {
    fn value(id: usize) -> u64 {
        id as u64 * 10 + 1
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Out> {
        let st = self.st.clone();
        let script = &st.scripts[self.id];
        loop {
            let Some(&step) = script.steps.get(self.step) else {
                break;
            };
            match step {
                Step::Yield { n, by_clone } => {
                    if self.count < n {
                        self.count += 1;
                        if by_clone {
                            cx.waker().clone().wake();
                        } else {
                            cx.waker().wake_by_ref();
                        }
                        return Poll::Pending;
                    }
                }
                Step::Wait(b) => {
                    let board = self.boards.get(b);
                    let target = *self.target.get_or_insert_with(|| board.epoch() + 1);
                    if board.epoch() < target {
                        board.register(self.id, cx.waker());
                        if board.epoch() < target {
                            return Poll::Pending;
                        }
                    }
                    board.deregister(self.id);
                    self.target = None;
                }
                Step::Stash => {
                    if self.count == 0 {
                        self.count = 1;
                        let w = cx.waker().clone();
                        w.wake_by_ref();
                        let mut stash = self.st.stash.borrow_mut();
                        if stash.len() >= STASH_MAX {
                            stash.remove(0);
                        }
                        stash.push(w);
                        return Poll::Pending;
                    }
                }
            }
            self.step += 1;
            self.count = 0;
        }
        let done = |how: Returned| {
            st.recs.borrow_mut()[self.id].returned = Some(how);
        };
        match script.terminal {
            Terminal::Ok | Terminal::Err => {
                let ok = script.terminal == Terminal::Ok;
                done(if ok { Returned::Ok } else { Returned::Err });
                st.live.set(st.live.get() - 1);
                st.completed_undropped.set(st.completed_undropped.get() + 1);
                // Wakes the siblings waiting for a completion.
                self.boards.sibling.release();
                Poll::Ready(if ok {
                    Ok(Box::new(Self::value(self.id)))
                } else {
                    Err(Box::new(self.id))
                })
            }
            Terminal::Panic => {
                done(Returned::Panicked);
                std::panic::panic_any(ChildPanic(self.id));
            }
            Terminal::Untouched => {
                st.recs.borrow_mut()[self.id].forever = true;
                Poll::Pending
            }
            Terminal::CloneDrop => {
                drop(cx.waker().clone());
                st.recs.borrow_mut()[self.id].forever = true;
                Poll::Pending
            }
        }
    }
}

impl Future for Child {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let this = &mut *self;
        let st = this.st.clone();
        let id = this.id;
        let seq = st.poll_seq.get() + 1;
        st.poll_seq.set(seq);
        {
            let mut recs = st.recs.borrow_mut();
            let rec = &mut recs[id];
            if st.over.get() {
                st.violation(format!("child {id} polled after the group ended"));
            }
            if rec.returned.is_some() {
                st.violation(format!(
                    "child {id} polled after it returned {:?}",
                    rec.returned
                ));
            }
            if rec.drops > 0 {
                st.violation(format!("child {id} polled after its drop"));
            }
            rec.last_poll = seq;
            if !rec.started {
                rec.started = true;
                st.start_order.borrow_mut().push(id);
                st.starts_now.set(st.starts_now.get() + 1);
                let live = st.live.get() + 1;
                st.live.set(live);
                st.max_live.set(st.max_live.get().max(live));
                if live > st.cap {
                    st.violation(format!(
                        "child {id} started with {live} live, limit {}",
                        st.cap
                    ));
                }
            } else {
                st.later_now.set(st.later_now.get() + 1);
            }
        }
        if st.completed_undropped.get() != 0 {
            st.violation(format!(
                "child {id} polled while a finished child was not dropped yet"
            ));
        }
        if this.seen_in != st.group_poll.get() {
            this.seen_in = st.group_poll.get();
            st.distinct_now.set(st.distinct_now.get() + 1);
        }
        this.step(cx)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let st = &self.st;
        let id = self.id;
        {
            let mut recs = st.recs.borrow_mut();
            let rec = &mut recs[id];
            rec.drops += 1;
            if rec.drops > 1 {
                st.violation(format!("child {id} dropped {} times", rec.drops));
            }
            match rec.returned {
                Some(Returned::Ok | Returned::Err) => {
                    st.completed_undropped.set(st.completed_undropped.get() - 1)
                }
                _ if rec.started => st.live.set(st.live.get() - 1),
                _ => {}
            }
        }
        for b in [BoardId::Sibling, BoardId::Driver, BoardId::Thread] {
            self.boards.get(b).deregister(id);
        }
        if st.scripts[id].drop_panics && !std::thread::panicking() {
            std::panic::panic_any(DropPanic(id));
        }
    }
}

// ---- quiet panics ------------------------------------------------------------------

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// A panic hook that is silent inside [`quietly`] and defers to the previous
/// one (libFuzzer's abort) elsewhere.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info)
            }
        }));
    });
}

fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r
}

fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<ChildPanic>() {
        format!("ChildPanic({})", p.0)
    } else if let Some(p) = payload.downcast_ref::<DropPanic>() {
        format!("DropPanic({})", p.0)
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic {s:?}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic {s:?}")
    } else {
        "a panic with an unknown payload".into()
    }
}

// ---- the driver ----------------------------------------------------------------------

type Group = TryJoinIter<Box<dyn Iterator<Item = Child>>>;

#[derive(Debug)]
enum End {
    Ok(Vec<u64>),
    Err(usize),
    ChildPanic(usize),
    DropPanic(usize),
    /// Pending with nothing that could wake it.
    Stalled,
    /// Dropped mid-flight by the schedule.
    Dropped,
}

fn end_of_panic(payload: Box<dyn Any + Send>, what: &str) -> End {
    if let Some(p) = payload.downcast_ref::<ChildPanic>() {
        End::ChildPanic(p.0)
    } else if let Some(p) = payload.downcast_ref::<DropPanic>() {
        End::DropPanic(p.0)
    } else {
        panic!("{what} unwound with {}", describe(&*payload));
    }
}

fn run(input: &Input) {
    install_panic_hook();
    let n = input.children.len();
    let cap = input.limit.unwrap_or(usize::MAX);
    let st = Rc::new(State {
        scripts: input.children.clone(),
        cap,
        recs: RefCell::new(vec![Rec::default(); n]),
        created: Cell::new(0),
        live: Cell::new(0),
        max_live: Cell::new(0),
        start_order: RefCell::new(Vec::new()),
        completed_undropped: Cell::new(0),
        poll_seq: Cell::new(0),
        starts_now: Cell::new(0),
        later_now: Cell::new(0),
        distinct_now: Cell::new(0),
        group_poll: Cell::new(0),
        iter_drops: Cell::new(0),
        stash: RefCell::new(Vec::new()),
        violations: RefCell::new(Vec::new()),
        over: Cell::new(false),
    });
    let boards = Arc::new(Boards::default());
    let mut helper = Helper::new(boards.thread.clone());

    let iter: Box<dyn Iterator<Item = Child>> = {
        let guard = IterGuard(st.clone());
        let st = st.clone();
        let boards = boards.clone();
        Box::new((0..n).map(move |id| {
            let _keep = &guard;
            st.created.set(st.created.get() + 1);
            Child {
                id,
                st: st.clone(),
                boards: boards.clone(),
                step: 0,
                count: 0,
                target: None,
                seen_in: 0,
            }
        }))
    };
    let mut group: Group = try_join_iter(iter);
    if let Some(limit) = input.limit {
        group = group.with_limit(limit);
    }
    let token = group.token();
    let mut late_token: Option<CancelToken> = None;
    let counters = [Arc::new(Counter::default()), Arc::new(Counter::default())];
    let wakers = [
        Waker::from(counters[0].clone()),
        Waker::from(counters[1].clone()),
    ];
    let mut cur = 0;
    let mut group = Some(group);

    let mut polls = 0usize;
    let end = loop {
        if input.drop_at == Some(polls) {
            let g = group.take().unwrap();
            break drop_group(g, &st, "the group's drop (mid-flight)", End::Dropped);
        }
        let g = group.as_mut().expect("the group is alive");
        if polls == input.token_at {
            let t = g.token();
            assert_eq!(t.reason(), None, "a token taken mid-flight has fired");
            late_token = Some(t);
        }
        st.group_poll.set(polls as u64 + 1);
        st.starts_now.set(0);
        st.later_now.set(0);
        st.distinct_now.set(0);
        let counter = &counters[cur];
        let before = counter.0.load(SeqCst);
        let waker = &wakers[cur];
        let polled = quietly(|| Pin::new(&mut *g).poll(&mut Context::from_waker(waker)));
        polls += 1;

        // Budget: at most 256 first polls, and 256 polls again (plus one
        // for each child the group re-polls with its slot's waker).
        let (starts, later, distinct) = (
            st.starts_now.get(),
            st.later_now.get(),
            st.distinct_now.get(),
        );
        assert!(starts <= BUDGET, "poll {polls}: {starts} children started");
        assert!(
            later <= BUDGET + distinct,
            "poll {polls}: {later} polls again of {distinct} children"
        );
        assert!(
            g.in_flight() <= cap,
            "in_flight {} over the limit {cap}",
            g.in_flight()
        );
        assert_eq!(
            g.accepted(),
            st.created.get(),
            "accepted() = children pulled"
        );

        match polled {
            Err(payload) => break end_of_panic(payload, "a poll of the group"),
            Ok(Poll::Ready(Ok(values))) => break End::Ok(values.into_iter().map(|v| *v).collect()),
            Ok(Poll::Ready(Err(e))) => break End::Err(*e),
            Ok(Poll::Pending) => {}
        }
        assert!(polls < MAX_GROUP_POLLS, "the group never finishes");
        assert_eq!(
            token.reason(),
            None,
            "poll {polls}: Pending, but the token fired"
        );
        assert!(!g.is_terminated(), "Pending, but terminated");
        let live_now = (0..st.created.get())
            .filter(|&i| {
                let r = &st.recs.borrow()[i];
                r.returned.is_none() && r.drops == 0
            })
            .count();
        assert_eq!(
            g.in_flight(),
            live_now,
            "in_flight() = children pulled and not finished"
        );

        // The schedule: outside events between polls.
        let e = input.schedule.get(polls - 1).copied().unwrap_or(0);
        if e & ev::RELEASE_DRIVER != 0 {
            boards.driver.release();
        }
        if e & ev::RELEASE_SIBLING != 0 {
            boards.sibling.release();
        }
        if e & ev::RELEASE_THREAD_ASYNC != 0 {
            helper.release_async();
        }
        if e & ev::RELEASE_THREAD_SYNC != 0 {
            helper.release_sync();
        }
        if e & ev::WAKE_STASH != 0 {
            let stash = std::mem::take(&mut *st.stash.borrow_mut());
            for w in &stash {
                w.wake_by_ref();
            }
            st.stash.borrow_mut().extend(stash);
        }
        if e & ev::CLEAR_STASH != 0 {
            drop(std::mem::take(&mut *st.stash.borrow_mut()));
        }
        if e & ev::JOIN_THREAD != 0 {
            helper.join();
        }
        let next = if e & ev::SWITCH_WAKER != 0 {
            cur ^ 1
        } else {
            cur
        };

        // Strict: poll again only if the last poll's waker was woken, or
        // after an outside event that must wake it.
        let woken = |c: &Counter| c.0.load(SeqCst) > before;
        if !woken(counter) {
            helper.join();
        }
        if !woken(counter) {
            let waiting = [
                boards.sibling.waiting(),
                boards.driver.waiting(),
                boards.thread.waiting(),
            ];
            if waiting.iter().all(|&w| w == 0) {
                // Only children that can never be woken may be left.
                let recs = st.recs.borrow();
                let left: Vec<usize> = (0..st.created.get())
                    .filter(|&i| recs[i].returned.is_none() && recs[i].drops == 0)
                    .collect();
                let lost: Vec<usize> = left.iter().copied().filter(|&i| !recs[i].forever).collect();
                assert!(
                    lost.is_empty(),
                    "poll {polls}: Pending, nothing woken and nobody waiting, but children \
                     {lost:?} can run (steps left; a lost wake-up); left {left:?}"
                );
                assert!(!left.is_empty(), "poll {polls}: Pending with no child left");
                drop(recs);
                break End::Stalled;
            }
            // The outside world: whatever children wait for happens now.
            if waiting[0] > 0 {
                boards.sibling.release();
            }
            if waiting[1] > 0 {
                boards.driver.release();
            }
            if waiting[2] > 0 {
                helper.release_sync();
            }
            assert!(
                woken(counter),
                "poll {polls}: waking the waiting children ({waiting:?} on sibling/driver/thread) \
                 did not wake the group (lost wake-up)"
            );
        }
        cur = next;
    };
    st.over.set(true);
    helper.join();

    let created = st.created.get();
    let recs = st.recs.borrow().clone();
    let scripts = &input.children;
    let drop_panicked_in_teardown = |k: usize| {
        scripts[k].drop_panics
            && recs[k].started
            && !matches!(recs[k].returned, Some(Returned::Ok | Returned::Err))
    };
    let decisive: Vec<usize> = (0..created)
        .filter(|&i| {
            matches!(recs[i].returned, Some(Returned::Err | Returned::Panicked))
                || (recs[i].returned == Some(Returned::Ok) && scripts[i].drop_panics)
        })
        .collect();

    // Common: the limit, first polls in order.
    assert!(
        st.max_live.get() <= cap,
        "max live {} over the limit {cap}",
        st.max_live.get()
    );
    assert_eq!(
        *st.start_order.borrow(),
        (0..created).collect::<Vec<_>>(),
        "first polls in iterator order"
    );

    let ended = matches!(
        end,
        End::Ok(_) | End::Err(_) | End::ChildPanic(_) | End::DropPanic(_)
    );
    let mut end = end;
    let reason = token.reason();
    if ended {
        let g = group.as_mut().unwrap();
        // Everything is gone before the outcome is handed back.
        assert_all_dropped(&st, created, "when the group returned");
        assert_eq!(
            st.iter_drops.get(),
            1,
            "the iterator dropped once before the outcome"
        );
        assert_eq!(g.in_flight(), 0);
        assert!(g.is_terminated(), "ended but not terminated");
        assert_eq!(g.token().reason(), reason, "a token made after the end");
        assert!(reason.is_some(), "ended, token not fired");
        // Exactly one child decided, in the group's last child poll.
        if let End::Ok(values) = &end {
            assert!(
                decisive.is_empty(),
                "Ok, but {decisive:?} failed or panicked"
            );
            assert_eq!(created, n, "Ok before every child was pulled");
            let want: Vec<u64> = (0..n).map(Child::value).collect();
            assert_eq!(values, &want, "values in iterator order");
            assert_eq!(reason, Some(CancelReason::Finished));
        } else {
            assert_eq!(
                decisive.len(),
                1,
                "decisive children {decisive:?} for {end:?}"
            );
            let j = decisive[0];
            let last = (0..created).map(|i| recs[i].last_poll).max().unwrap_or(0);
            assert_eq!(
                recs[j].last_poll, last,
                "child {j} decided, but a child was polled after it"
            );
            let failed = recs[j].returned == Some(Returned::Err) && !scripts[j].drop_panics;
            match end {
                End::Err(i) => {
                    assert_eq!(i, j, "Err({i}), but child {j} decided");
                    assert!(failed, "Err({i}) from {:?}", scripts[i]);
                    let teardown: Vec<usize> = (0..created)
                        .filter(|&k| k != j && drop_panicked_in_teardown(k))
                        .collect();
                    assert!(
                        teardown.is_empty(),
                        "Err returned although the Drops of {teardown:?} panicked"
                    );
                    assert_eq!(reason, Some(CancelReason::Failed { index: j }));
                }
                End::ChildPanic(i) => {
                    assert_eq!(i, j, "ChildPanic({i}), but child {j} decided");
                    assert_eq!(recs[i].returned, Some(Returned::Panicked));
                    assert_eq!(reason, Some(CancelReason::Panicked { index: j }));
                }
                End::DropPanic(k) if failed => {
                    // A Drop panic of the teardown after child j's error.
                    assert!(
                        k != j && drop_panicked_in_teardown(k),
                        "DropPanic({k}) after Err of {j}"
                    );
                    assert_eq!(reason, Some(CancelReason::Failed { index: j }));
                }
                End::DropPanic(k) => {
                    assert_eq!(k, j, "DropPanic({k}), but child {j} decided");
                    assert!(
                        matches!(recs[k].returned, Some(Returned::Ok | Returned::Err))
                            && scripts[k].drop_panics,
                        "DropPanic({k}) from {:?}",
                        recs[k]
                    );
                    assert_eq!(reason, Some(CancelReason::Panicked { index: k }));
                }
                _ => unreachable!(),
            }
        }
        // Polling again panics, and polls no child.
        let seq = st.poll_seq.get();
        let again = quietly(|| {
            Pin::new(&mut *g)
                .poll(&mut Context::from_waker(&wakers[0]))
                .is_ready()
        });
        assert!(again.is_err(), "polling a finished group did not panic");
        assert_eq!(
            st.poll_seq.get(),
            seq,
            "polling a finished group polled a child"
        );
        let g = group.take().unwrap();
        match quietly(|| drop(g)) {
            Ok(()) => {}
            Err(p) => panic!("dropping a finished group unwound with {}", describe(&*p)),
        }
        assert_eq!(
            token.reason(),
            reason,
            "the reason changed at the drop of an ended group"
        );
    } else {
        assert!(decisive.is_empty(), "{end:?}, but {decisive:?} decided");
        if let End::Stalled = end {
            assert_eq!(reason, None, "stalled, but the token fired");
            let g = group.take().unwrap();
            assert!(!g.is_terminated());
            st.over.set(true);
            end = drop_group(g, &st, "the group's drop (stalled)", End::Stalled);
        }
        assert_eq!(
            token.reason(),
            Some(CancelReason::Dropped),
            "{end:?}: token after the drop"
        );
        assert_all_dropped(&st, created, "after the drop");
        assert_eq!(st.iter_drops.get(), 1, "the iterator dropped once");
    }
    if let Some(t) = &late_token {
        assert_eq!(t.reason(), token.reason(), "the late token");
    }
    assert!(token.is_cancelled());

    // One at a time: the first child that does not finish `Ok` decides.
    if input.limit == Some(1) && !matches!(end, End::Dropped) {
        let decider = scripts
            .iter()
            .position(|s| s.terminal != Terminal::Ok || s.drop_panics);
        let want = match decider {
            None => End::Ok((0..n).map(Child::value).collect()),
            Some(i) => match (scripts[i].terminal, scripts[i].drop_panics) {
                (Terminal::Panic, _) => End::ChildPanic(i),
                (Terminal::Ok | Terminal::Err, true) => End::DropPanic(i),
                (Terminal::Err, false) => End::Err(i),
                // Stalls; the group's drop then resumes its Drop's panic.
                _ => End::Stalled,
            },
        };
        let want = format!("{want:?}");
        let got = format!("{end:?}");
        assert_eq!(got, want, "limit 1: one child at a time");
        assert_eq!(
            created,
            decider.map_or(n, |i| i + 1),
            "limit 1: children pulled"
        );
    }

    if trace() {
        eprintln!(
            "join_iter: {input:?}\n  -> {end:?} after {polls} polls, {created} pulled, token {:?}",
            token.reason()
        );
    }
    let violations = st.violations.borrow().clone();
    assert!(violations.is_empty(), "violations: {violations:#?}");
    drop(st.stash.borrow_mut().drain(..).collect::<Vec<_>>());
    helper.shutdown();
}

/// Drops a group that has not ended: the token must say `Dropped`, and the
/// first `Drop` panic of a child (if any) resumes after every child is gone.
fn drop_group(g: Group, st: &State, what: &str, otherwise: End) -> End {
    st.over.set(true);
    let live_bombs: Vec<usize> = (0..st.created.get())
        .filter(|&i| {
            let r = &st.recs.borrow()[i];
            st.scripts[i].drop_panics && r.returned.is_none() && r.drops == 0
        })
        .collect();
    match quietly(|| drop(g)) {
        Ok(()) => {
            assert!(
                live_bombs.is_empty(),
                "{what}: the Drops of {live_bombs:?} panicked, the drop did not"
            );
            otherwise
        }
        Err(p) => match end_of_panic(p, what) {
            End::DropPanic(k) if live_bombs.contains(&k) => otherwise,
            other => panic!(
                "{what}: unwound with {other:?}; live children whose Drop panics: {live_bombs:?}"
            ),
        },
    }
}

/// `JOIN_ITER_TRACE=1`: print each input and how it ended.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("JOIN_ITER_TRACE").is_some())
}

fn assert_all_dropped(st: &State, created: usize, when: &str) {
    let recs = st.recs.borrow();
    let wrong: Vec<(usize, u32)> = (0..created)
        .filter(|&i| recs[i].drops != 1)
        .map(|i| (i, recs[i].drops))
        .collect();
    assert!(
        wrong.is_empty(),
        "{when}: children not dropped exactly once (index, drops): {wrong:?}"
    );
}

fuzz_target!(|input: Input| {
    run(&input);
});
