//! A scripted, deterministic driver for `TryGroup`, checked after every
//! operation against a plain sequential model of the SPEC.
//!
//! Used by `tests/model_prop.rs` (proptest, on stable, in `cargo test`) and by
//! the `cancel_order` fuzz target (`fuzz/`, via `#[path]`). One file, so both
//! check the same invariants.
//!
//! # The script
//!
//! A [`Script`] fixes the group's mode (future / `settle()` / `into_stream()`),
//! `drain_on_error`, `catch_panics`, an optional limit and shared semaphore,
//! a `cancel_on` trigger and a parent token, up to [`MAX_TEMPLATES`] child
//! templates (each a list of [`Step`]s and whether its `Drop` panics; every
//! template is pushed once at the start, and pushes in steps and operations
//! make fresh children from templates), and up to [`MAX_OPS`] outside
//! operations ([`Op`]). Afterwards the driver fires every external slot and
//! polls only on real wakes (a strict executor) until the group finishes,
//! cancelling it through a handle if it is legitimately stuck.
//!
//! # How the model works
//!
//! The model does not re-implement `FuturesUnordered`'s poll order. It watches
//! what happens (children record every poll, completion and drop) and checks
//! each event against the rules, which fix what the SPEC fixes: indices by
//! acceptance, the first *observed* failure, FIFO starts, the limit, the
//! token's single reason, what the output must be. Where the SPEC leaves a
//! choice open, the model accepts every reading (see the comments marked
//! "either reading").
//!
//! # Byte format
//!
//! [`Script`] implements `arbitrary::Arbitrary` by hand (not derived), with
//! [`Script::encode`] as its exact inverse, so the tricky cases can be written
//! out as fuzz seeds byte for byte.

#![allow(dead_code)] // the test suite and the fuzz target use different parts

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::task::{Context, Poll, Wake, Waker};

use async_lock::Semaphore;
use futures_core::{FusedFuture, FusedStream, Stream};
use trygroup::{CancelReason, CancelToken, Cancelled, Closed, Handle, Panicked, TryGroup};

// ---- bounds ---------------------------------------------------------------

/// Child templates in a script (each pushed once at the start).
pub const MAX_TEMPLATES: usize = 24;
/// Steps in one child.
pub const MAX_STEPS: usize = 12;
/// Outside operations in a script.
pub const MAX_OPS: usize = 128;
/// Children created in one run (template pushes + pushes from steps and ops).
pub const MAX_CHILDREN: usize = 64;
/// External slots a child can wait on.
pub const SLOTS: usize = 4;
/// Polls the strict executor may spend on the end phase before it calls the
/// group livelocked.
const END_POLLS: usize = 20_000;

// ---- the script -----------------------------------------------------------

/// How the group is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `group.await`: `Result<Vec<T>, E>`.
    Future,
    /// `group.settle().await`.
    Settle,
    /// `group.into_stream()`.
    Stream,
}

/// The parent token given to `with_parent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parent {
    None,
    /// A parent group whose token has not fired.
    Fresh,
    /// A parent group whose token fired before `with_parent` (cancelled at once).
    Fired,
}

/// One step of a child, run in order; running off the end returns `Ok(label)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Return `Ok(label)`.
    Ok,
    /// Return `Err(Er::Child(label))`.
    Err,
    /// Panic with `ChildPanic(label)`.
    Panic,
    /// Return `Pending` once, waking itself through a cloned waker.
    SelfWake,
    /// Return `Pending` until the external slot fires.
    Slot(u8),
    /// Push a fresh child made from this template through a `Handle`.
    Push(u8),
    /// Await the group's `CancelToken`.
    AwaitToken,
    /// Return `Pending` (waking itself by reference) this many times.
    Yield(u8),
}

/// A child template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSpec {
    pub steps: Vec<Step>,
    /// Its `Drop` panics with `DropPanic(label)` (SPEC rule 10: must propagate).
    pub drop_panics: bool,
}

/// An outside operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Poll the group if it was woken (or never polled): a real executor.
    Poll,
    /// Poll the group whether or not it was woken.
    SpuriousPoll,
    /// The next poll uses a fresh waker (the task moved).
    ChangeWaker,
    /// Fire an external slot (children waiting on it become ready).
    FireSlot(u8),
    /// `Handle::cancel()`.
    HandleCancel,
    /// Complete the `cancel_on` trigger.
    FireTrigger,
    /// Cancel the parent group (its token fires).
    CancelParent,
    /// `set_limit` (0 = `None`, else `Some(n)`).
    SetLimit(u8),
    /// `group.push` of a fresh child from this template.
    Push(u8),
    /// `group.try_push`.
    TryPush(u8),
    /// `Handle::push` from outside.
    HandlePush(u8),
    /// Drop the group (or its settle future / stream).
    DropGroup,
    /// `group.feed` of a lazy source of up to 3 fresh children, from this
    /// template and the next two.
    Feed(u8),
    /// Take (`true`) or give back (`false`) one permit of the shared
    /// semaphore from outside the group (another group's share).
    Permit(bool),
}

/// A whole run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub mode: Mode,
    pub drain: bool,
    pub catch_panics: bool,
    /// `with_limit(n)`, 1..=6 (above 4 the in-flight set outgrows the inline
    /// slots and becomes a `FuturesUnordered`).
    pub limit: Option<u8>,
    /// `with_semaphore` with this many permits, 1..=6.
    pub semaphore: Option<u8>,
    /// `cancel_on(trigger)`.
    pub trigger: bool,
    pub parent: Parent,
    pub children: Vec<ChildSpec>,
    pub ops: Vec<Op>,
}

impl Script {
    /// A script with the given children and operations and default settings.
    pub fn new(children: Vec<ChildSpec>, ops: Vec<Op>) -> Self {
        Script {
            mode: Mode::Future,
            drain: false,
            catch_panics: false,
            limit: None,
            semaphore: None,
            trigger: false,
            parent: Parent::None,
            children,
            ops,
        }
    }

    /// Clamps every bound, so a script built by hand or by a strategy means
    /// exactly what its bytes mean.
    pub fn normalized(mut self) -> Self {
        self.limit = self.limit.map(|l| l.clamp(1, 6));
        self.semaphore = self.semaphore.map(|p| p.clamp(1, 6));
        self.children.truncate(MAX_TEMPLATES);
        for c in &mut self.children {
            c.steps.truncate(MAX_STEPS);
            for s in &mut c.steps {
                *s = step_from(step_code(*s));
            }
        }
        self.ops.truncate(MAX_OPS);
        for o in &mut self.ops {
            *o = op_from(op_code(*o));
        }
        self
    }

    /// The bytes that [`Script::decode`] (and so `Arbitrary`) turns back into
    /// `self.normalized()`.
    pub fn encode(&self) -> Vec<u8> {
        let s = self.clone().normalized();
        let mut out = vec![
            match s.mode {
                Mode::Future => 0,
                Mode::Settle => 1,
                Mode::Stream => 2,
            },
            (s.drain as u8)
                | (s.catch_panics as u8) << 1
                | (s.trigger as u8) << 2
                | match s.parent {
                    Parent::None => 0,
                    Parent::Fresh => 1,
                    Parent::Fired => 2,
                } << 3,
            s.limit.unwrap_or(0),
            s.semaphore.unwrap_or(0),
            s.children.len() as u8,
        ];
        for c in &s.children {
            out.push(c.drop_panics as u8 | (c.steps.len() as u8) << 1);
            for st in &c.steps {
                let (k, a) = step_code(*st);
                out.extend([k, a]);
            }
        }
        for op in &s.ops {
            let (k, a) = op_code(*op);
            out.extend([k, a]);
        }
        out
    }

    /// Reads a script; missing bytes read as 0, so every input is a script.
    pub fn decode(u: &mut arbitrary::Unstructured<'_>) -> Self {
        let mut byte = || u.arbitrary::<u8>().unwrap_or(0);
        let mode = match byte() % 3 {
            0 => Mode::Future,
            1 => Mode::Settle,
            _ => Mode::Stream,
        };
        let flags = byte();
        let limit = byte() % 7;
        let semaphore = byte() % 7;
        let n = byte() as usize % (MAX_TEMPLATES + 1);
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let b = byte();
            let steps = (0..((b >> 1) as usize % (MAX_STEPS + 1)))
                .map(|_| {
                    let k = byte();
                    step_from((k, byte()))
                })
                .collect();
            children.push(ChildSpec {
                steps,
                drop_panics: b & 1 == 1,
            });
        }
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            let k = u.arbitrary::<u8>().unwrap_or(0);
            let a = u.arbitrary::<u8>().unwrap_or(0);
            ops.push(op_from((k, a)));
        }
        Script {
            mode,
            drain: flags & 1 == 1,
            catch_panics: flags & 2 == 2,
            trigger: flags & 4 == 4,
            parent: match (flags >> 3) % 4 {
                1 => Parent::Fresh,
                2 => Parent::Fired,
                _ => Parent::None,
            },
            limit: (limit != 0).then_some(limit),
            semaphore: (semaphore != 0).then_some(semaphore),
            children,
            ops,
        }
    }
}

impl<'a> arbitrary::Arbitrary<'a> for Script {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Script::decode(u))
    }
}

fn step_code(s: Step) -> (u8, u8) {
    match s {
        Step::Ok => (0, 0),
        Step::Err => (1, 0),
        Step::Panic => (2, 0),
        Step::SelfWake => (3, 0),
        Step::Slot(k) => (4, k % SLOTS as u8),
        Step::Push(t) => (5, t % MAX_TEMPLATES as u8),
        Step::AwaitToken => (6, 0),
        Step::Yield(n) => (7, n.clamp(1, 4) - 1),
    }
}

fn step_from((k, a): (u8, u8)) -> Step {
    match k % 8 {
        0 => Step::Ok,
        1 => Step::Err,
        2 => Step::Panic,
        3 => Step::SelfWake,
        4 => Step::Slot(a % SLOTS as u8),
        5 => Step::Push(a % MAX_TEMPLATES as u8),
        6 => Step::AwaitToken,
        _ => Step::Yield(a % 4 + 1),
    }
}

fn op_code(o: Op) -> (u8, u8) {
    match o {
        Op::Poll => (0, 0),
        Op::SpuriousPoll => (1, 0),
        Op::ChangeWaker => (2, 0),
        Op::FireSlot(k) => (3, k % SLOTS as u8),
        Op::HandleCancel => (4, 0),
        Op::FireTrigger => (5, 0),
        Op::CancelParent => (6, 0),
        Op::SetLimit(l) => (7, l % 7),
        Op::Push(t) => (8, t % MAX_TEMPLATES as u8),
        Op::TryPush(t) => (9, t % MAX_TEMPLATES as u8),
        Op::HandlePush(t) => (10, t % MAX_TEMPLATES as u8),
        Op::DropGroup => (11, 0),
        Op::Feed(t) => (12, t % MAX_TEMPLATES as u8),
        Op::Permit(hold) => (13, hold as u8),
    }
}

fn op_from((k, a): (u8, u8)) -> Op {
    let t = a % MAX_TEMPLATES as u8;
    match k % 14 {
        0 => Op::Poll,
        1 => Op::SpuriousPoll,
        2 => Op::ChangeWaker,
        3 => Op::FireSlot(a % SLOTS as u8),
        4 => Op::HandleCancel,
        5 => Op::FireTrigger,
        6 => Op::CancelParent,
        7 => Op::SetLimit(a % 7),
        8 => Op::Push(t),
        9 => Op::TryPush(t),
        10 => Op::HandlePush(t),
        11 => Op::DropGroup,
        12 => Op::Feed(t),
        _ => Op::Permit(a & 1 == 1),
    }
}

// ---- the error type and panic payloads ------------------------------------

/// The children's error type.
#[derive(Debug)]
pub enum Er {
    /// `Step::Err` of the child with this label.
    Child(usize),
    Cancelled(Cancelled),
    Panicked(Panicked),
}

impl From<Cancelled> for Er {
    fn from(c: Cancelled) -> Self {
        Er::Cancelled(c)
    }
}

impl From<Panicked> for Er {
    fn from(p: Panicked) -> Self {
        Er::Panicked(p)
    }
}

/// The payload of `Step::Panic`.
#[derive(Debug, PartialEq, Eq)]
pub struct ChildPanic(pub usize);

/// The payload of a panicking `Drop`.
#[derive(Debug, PartialEq, Eq)]
pub struct DropPanic(pub usize);

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent inside [`quietly`] and
/// defers to the previous hook (the default one, or libFuzzer's abort)
/// elsewhere, so expected panics neither spam the output nor abort the fuzzer.
pub fn install_panic_hook() {
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

/// `catch_unwind` with the panic hook silenced.
fn quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let was = QUIET.with(|q| q.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r
}

fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(p) = payload.downcast_ref::<ChildPanic>() {
        format!("{p:?}")
    } else if let Some(p) = payload.downcast_ref::<DropPanic>() {
        format!("{p:?}")
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panic {s:?}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panic {s:?}")
    } else {
        "panic with an unknown payload".into()
    }
}

// ---- wakers ----------------------------------------------------------------

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountWaker(AtomicUsize);

impl CountWaker {
    pub fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

// ---- shared state: what the children record ---------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Err,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// Not waiting on anything outside: running, or it woke itself.
    Busy,
    Slot(usize),
    Token,
}

#[derive(Debug)]
struct Kid {
    template: usize,
    drop_panics: bool,
    /// The push index the model assigned (at acceptance).
    index: Option<usize>,
    /// Handed to the group (pushed, or accepted by `try_push` / `Handle::push`).
    with_group: bool,
    /// Handle-pushed from outside, not yet taken in (numbered at the next poll).
    in_inbox: bool,
    /// The token had fired when the model accepted it.
    accepted_after_fire: bool,
    /// Accepted in the window of [`KNOWN_BUG_RULE12`].
    in_gap: bool,
    /// Taken in from the inbox by a poll that began after the token fired
    /// (the case of [`KNOWN_BUG_DRAIN_INBOX`]).
    inbox_after_fire: bool,
    /// `queued()` grew when it was pushed: it waited in the queue.
    known_queued: bool,
    started: bool,
    outcome: Option<Outcome>,
    polls: usize,
    drops: usize,
    blocked: Blocked,
    /// The largest limit in force between acceptance and the first poll
    /// (`None`: unlimited at some point).
    max_limit: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// A child completed; `fired` = the token had fired when it returned.
    Done {
        label: usize,
        outcome: Outcome,
        fired: bool,
    },
    Dropped {
        label: usize,
        panics: bool,
    },
}

struct World {
    kids: Vec<Kid>,
    by_index: Vec<usize>,
    slots: [(bool, Vec<Waker>); SLOTS],
    trigger_fired: bool,
    trigger_waker: Option<Waker>,
    trigger_drops: usize,
    sources: Vec<SourceRec>,
    /// Semaphore permits held from outside the group.
    held_permits: usize,
    limit: Option<usize>,
    in_poll: bool,
    /// Events of the current operation.
    events: Vec<Ev>,
    /// Labels of `Ok` completions, in completion order, for `into_stream`;
    /// `true` = the child's `Drop` panics, so its value may be lost.
    ok_completions: VecDeque<(usize, bool)>,
    /// Futures given back (`Closed`, `try_push`), to be dropped by the driver
    /// outside any poll.
    given_back: Vec<Child>,
    /// A `drain_on_error` drain was cut short: no child may be polled again.
    cut_short: bool,
    /// Report [`KNOWN_BUG_RULE12`] as a violation.
    strict: bool,
    /// Tolerate [`KNOWN_BUG_FIFO_GROW`] once more than 4 children were alive.
    tolerate_fifo_grow: bool,
    /// More than 4 accepted children were alive at once: the in-flight set
    /// may have grown past its inline slots.
    grown: bool,
    violations: Vec<String>,
    log: Vec<String>,
}

impl World {
    fn violation(&mut self, msg: String) {
        self.log.push(format!("!! {msg}"));
        self.violations.push(msg);
    }

    fn live_started(&self) -> usize {
        self.kids
            .iter()
            .filter(|k| k.started && k.outcome.is_none() && k.drops == 0)
            .count()
    }

    fn number(&mut self, label: usize, fired: bool) {
        let index = self.by_index.len();
        self.by_index.push(label);
        let limit = self.limit;
        let k = &mut self.kids[label];
        k.index = Some(index);
        k.in_inbox = false;
        k.accepted_after_fire = fired;
        k.max_limit = limit;
        let alive = self
            .kids
            .iter()
            .filter(|k| k.index.is_some() && k.outcome.is_none() && k.drops == 0)
            .count();
        self.grown |= alive > 4;
    }
}

struct Shared {
    world: Mutex<World>,
    templates: Vec<ChildSpec>,
    token: CancelToken,
    handle: Mutex<Option<Handle<'static, usize, Er>>>,
    mode: Mode,
    drain: bool,
    catch_panics: bool,
    permits: Option<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh child from template `t`, unless the run's child budget is spent.
    fn new_child(self: &Arc<Self>, t: usize) -> Option<Child> {
        if self.templates.is_empty() {
            return None;
        }
        let t = t % self.templates.len();
        let handle = self.handle.lock().unwrap().clone();
        let mut w = self.lock();
        if w.kids.len() >= MAX_CHILDREN {
            return None;
        }
        let label = w.kids.len();
        w.kids.push(Kid {
            template: t,
            drop_panics: self.templates[t].drop_panics,
            index: None,
            with_group: false,
            in_inbox: false,
            accepted_after_fire: false,
            in_gap: false,
            inbox_after_fire: false,
            known_queued: false,
            started: false,
            outcome: None,
            polls: 0,
            drops: 0,
            blocked: Blocked::Busy,
            max_limit: None,
        });
        Some(Child {
            label,
            template: t,
            shared: self.clone(),
            handle,
            pc: 0,
            sub: 0,
            wait: None,
        })
    }

    /// Whether a failure outcome fires the token in this mode.
    fn fires(&self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Ok => false,
            Outcome::Err => self.mode != Mode::Settle,
            Outcome::Panic => self.mode != Mode::Settle || !self.catch_panics,
        }
    }
}

// ---- the child future -------------------------------------------------------

/// A scripted child. Everything it sees is recorded in the shared [`World`].
pub struct Child {
    label: usize,
    template: usize,
    shared: Arc<Shared>,
    handle: Option<Handle<'static, usize, Er>>,
    pc: usize,
    sub: u8,
    wait: Option<Pin<Box<trygroup::WaitCancelled>>>,
}

impl Child {
    fn enter(&mut self) {
        let sh = &self.shared;
        let fired = sh.token.reason();
        let mut w = sh.lock();
        let label = self.label;
        if !w.in_poll {
            w.violation(format!("child {label} polled outside a poll of the group"));
        }
        let live_before = w.live_started();
        let k = &w.kids[label];
        let (index, first, outcome, drops, accepted_after_fire, max_limit) = (
            k.index,
            !k.started,
            k.outcome,
            k.drops,
            k.accepted_after_fire && (w.strict || !(k.in_gap || k.inbox_after_fire)),
            k.max_limit,
        );
        if outcome.is_some() {
            w.violation(format!("child {label} polled after it returned Ready"));
        }
        if drops > 0 {
            w.violation(format!("child {label} polled after it was dropped"));
        }
        let Some(index) = index else {
            w.violation(format!("child {label} polled before the group accepted it"));
            return;
        };
        if w.cut_short {
            w.violation(format!(
                "child {label} polled after the drain was cut short"
            ));
        }
        if let Some(r) = fired {
            if !sh.drain {
                w.violation(format!(
                    "child {label} polled after the token fired ({r:?}) without drain_on_error"
                ));
            } else if first && accepted_after_fire {
                w.violation(format!(
                    "child {label} was not in flight when the token fired (queued, in the \
                     inbox, or pushed later) but started while draining (rule 12)"
                ));
            }
        }
        if first {
            let live = live_before + 1;
            if let Some(l) = max_limit {
                if live > l {
                    w.violation(format!(
                        "child {label} started with {live} children in flight, limit {l}"
                    ));
                }
            }
            // FIFO (SPEC: "queued children start FIFO"): no child starts
            // before an earlier child that waited in the queue. (Children that
            // got a slot at once all start at the next poll; their order within
            // it is not fixed by the SPEC, and the crate's inline set may
            // reorder them when it grows into a `FuturesUnordered`.) Once one
            // child is queued every later one is queued too, until it leaves.
            let skipped: Vec<usize> = w
                .kids
                .iter()
                .enumerate()
                .filter(|(_, k)| {
                    k.index.is_some_and(|i| i < index)
                        && k.known_queued
                        && !k.started
                        && k.drops == 0
                })
                .map(|(l, _)| l)
                .collect();
            let tolerated = w.tolerate_fifo_grow && w.grown;
            if !skipped.is_empty() && !tolerated {
                w.violation(format!(
                    "child {label} (index {index}) started before earlier children {skipped:?} (FIFO)"
                ));
            }
        }
        if let Some(p) = sh.permits {
            let live = live_before + first as usize;
            let held = w.held_permits;
            if live + held > p {
                w.violation(format!(
                    "{live} children in flight with a semaphore of {p} permits, {held} held outside"
                ));
            }
        }
        let k = &mut w.kids[label];
        k.started = true;
        k.polls += 1;
        k.blocked = Blocked::Busy;
    }

    fn finish(&mut self, outcome: Outcome) -> Poll<Result<usize, Er>> {
        let fired = self.shared.token.is_cancelled();
        let label = self.label;
        let mut w = self.shared.lock();
        let drop_panics = w.kids[label].drop_panics;
        w.kids[label].outcome = Some(outcome);
        w.events.push(Ev::Done {
            label,
            outcome,
            fired,
        });
        w.log.push(format!("  child {label} -> {outcome:?}"));
        drop(w);
        match outcome {
            Outcome::Ok => {
                self.shared
                    .lock()
                    .ok_completions
                    .push_back((label, drop_panics));
                Poll::Ready(Ok(label))
            }
            Outcome::Err => Poll::Ready(Err(Er::Child(label))),
            Outcome::Panic => std::panic::panic_any(ChildPanic(label)),
        }
    }

    fn block(&self, b: Blocked) {
        self.shared.lock().kids[self.label].blocked = b;
    }

    fn push_child(&mut self, t: usize) {
        let Some(child) = self.shared.new_child(t) else {
            return;
        };
        let new = child.label;
        let fired = self.shared.token.is_cancelled();
        let Some(handle) = &self.handle else {
            self.shared.lock().given_back.push(child);
            return;
        };
        let res = handle.push(child);
        let mut w = self.shared.lock();
        match res {
            Ok(()) => {
                w.log
                    .push(format!("  child {} pushed {new}: accepted", self.label));
                if fired {
                    w.violation(format!(
                        "Handle::push of child {new} accepted after the token fired (rule 12)"
                    ));
                }
                w.kids[new].with_group = true;
                // Taken in during this poll, before anything else is numbered.
                w.number(new, fired);
            }
            Err(Closed(f)) => {
                w.log
                    .push(format!("  child {} pushed {new}: Closed", self.label));
                if !fired {
                    w.violation(format!(
                        "Handle::push of child {new} refused by a running group"
                    ));
                }
                check_intact(&mut w, &f, new);
                w.given_back.push(f);
            }
        }
    }
}

/// A future given back (`Closed`, `try_push`) must be the one pushed, unpolled.
fn check_intact(w: &mut World, f: &Child, label: usize) {
    let k = &w.kids[label];
    if f.label != label || k.polls != 0 || k.drops != 0 || f.pc != 0 {
        let msg = format!("child {label} came back altered: {k:?}");
        w.violation(msg);
    }
}

impl Future for Child {
    type Output = Result<usize, Er>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.enter();
        let shared = this.shared.clone();
        let steps = &shared.templates[this.template].steps;
        loop {
            let Some(&step) = steps.get(this.pc) else {
                return this.finish(Outcome::Ok);
            };
            match step {
                Step::Ok => return this.finish(Outcome::Ok),
                Step::Err => return this.finish(Outcome::Err),
                Step::Panic => return this.finish(Outcome::Panic),
                Step::SelfWake => {
                    if this.sub == 0 {
                        this.sub = 1;
                        // By value on purpose: the other wake path than `Yield`'s.
                        #[allow(clippy::waker_clone_wake)]
                        cx.waker().clone().wake();
                        return Poll::Pending;
                    }
                    this.sub = 0;
                    this.pc += 1;
                }
                Step::Yield(n) => {
                    if this.sub < n {
                        this.sub += 1;
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.sub = 0;
                    this.pc += 1;
                }
                Step::Slot(k) => {
                    let k = k as usize;
                    let mut w = shared.lock();
                    if w.slots[k].0 {
                        drop(w);
                        this.pc += 1;
                    } else {
                        w.slots[k].1.push(cx.waker().clone());
                        w.kids[this.label].blocked = Blocked::Slot(k);
                        return Poll::Pending;
                    }
                }
                Step::AwaitToken => {
                    let wait = this
                        .wait
                        .get_or_insert_with(|| Box::pin(shared.token.cancelled()));
                    match wait.as_mut().poll(cx) {
                        Poll::Ready(()) => {
                            this.wait = None;
                            this.pc += 1;
                        }
                        Poll::Pending => {
                            this.block(Blocked::Token);
                            return Poll::Pending;
                        }
                    }
                }
                Step::Push(t) => {
                    this.push_child(t as usize);
                    this.pc += 1;
                }
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.wait = None;
        let label = self.label;
        let panics = {
            let mut w = self.shared.lock();
            let k = &mut w.kids[label];
            k.drops += 1;
            let (drops, panics) = (k.drops, k.drop_panics);
            if drops > 1 {
                w.violation(format!("child {label} dropped {drops} times"));
            }
            w.events.push(Ev::Dropped { label, panics });
            panics
        };
        if panics && !std::thread::panicking() {
            std::panic::panic_any(DropPanic(label));
        }
    }
}

// ---- the cancel_on trigger ----------------------------------------------------

struct Trigger(Arc<Shared>);

impl Future for Trigger {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut w = self.0.lock();
        if w.trigger_fired {
            Poll::Ready(())
        } else {
            w.trigger_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Trigger {
    fn drop(&mut self) {
        self.0.lock().trigger_drops += 1;
    }
}

// ---- lazy sources (`feed`) --------------------------------------------------

#[derive(Debug, Default)]
struct SourceRec {
    drops: usize,
    exhausted: bool,
}

/// A lazy source of up to 3 children; every pull is checked against rule 9.
struct Source {
    shared: Arc<Shared>,
    id: usize,
    next_template: usize,
    left: u8,
}

impl Iterator for Source {
    type Item = Child;

    fn next(&mut self) -> Option<Child> {
        let sh = self.shared.clone();
        let fired = sh.token.reason();
        {
            let mut w = sh.lock();
            let id = self.id;
            if w.sources[id].exhausted {
                w.violation(format!("source {id} pulled after it returned None"));
            }
            if let Some(r) = fired {
                w.violation(format!(
                    "source {id} pulled after the token fired ({r:?}) (rule 9)"
                ));
            }
            // Rule 9: pulled only when a slot is free and nothing is queued,
            // so the accepted live children are fewer than the limit.
            let alive = w
                .kids
                .iter()
                .filter(|k| k.index.is_some() && k.outcome.is_none() && k.drops == 0)
                .count();
            let cap = match (
                w.limit,
                sh.permits.map(|p| p.saturating_sub(w.held_permits)),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if cap.is_some_and(|c| alive >= c) {
                w.violation(format!(
                    "source {id} pulled with {alive} children accepted and alive, cap {cap:?} (rule 9)"
                ));
            }
            if self.left == 0 {
                w.sources[id].exhausted = true;
                return None;
            }
        }
        let Some(child) = sh.new_child(self.next_template) else {
            sh.lock().sources[self.id].exhausted = true;
            return None;
        };
        self.next_template += 1;
        self.left -= 1;
        let mut w = sh.lock();
        let label = child.label;
        w.kids[label].with_group = true;
        w.number(label, fired.is_some());
        let index = w.kids[label].index;
        w.log.push(format!(
            "  source {} pulled {label}: index {index:?}",
            self.id
        ));
        Some(child)
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.shared.lock().sources[self.id].drops += 1;
    }
}

// ---- the driver -----------------------------------------------------------------

type Group = TryGroup<'static, usize, Er>;

enum Subject {
    Group(Box<Group>),
    Settle(Box<dyn FusedFuture<Output = Vec<Result<usize, Er>>> + Unpin>),
    Stream(Box<dyn FusedStream<Item = Result<usize, Er>> + Unpin>),
    Gone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    /// Not finished; the last poll returned `Pending` (or it was never polled).
    Running,
    /// Stream only: the last poll yielded an item, so the consumer polls again.
    ItemReady,
    /// The output was delivered.
    Finished,
    /// A poll unwound (rule 7: finished too).
    Poisoned,
    /// Dropped.
    Dropped,
}

enum Polled {
    Pending,
    Unwound(Box<dyn Any + Send>),
    Collect(Result<Vec<usize>, Er>),
    Settle(Vec<Result<usize, Er>>),
    Item(Option<Result<usize, Er>>),
}

/// Counters a run reports (for TESTING.md figures and coverage sanity).
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub ops: usize,
    pub polls: usize,
    pub children: usize,
    pub finished: bool,
    pub failed: bool,
    pub unwound: bool,
}

struct Listener {
    fut: Pin<Box<trygroup::WaitCancelled>>,
    waker: Arc<CountWaker>,
    /// Registered (polled `Pending`) before the token fired.
    armed: bool,
}

struct Driver {
    sh: Arc<Shared>,
    script: Script,
    subject: Subject,
    life: Life,
    polled_once: bool,
    /// The waker of the last poll, and its count when that poll started.
    registered: Arc<CountWaker>,
    polled_at: usize,
    /// The waker the next poll will use.
    next_waker: Arc<CountWaker>,
    handle: Handle<'static, usize, Er>,
    token: CancelToken,
    seen_reason: Option<CancelReason>,
    /// The group itself knows its first reason (it fired it, or polled since).
    core_knows: bool,
    /// Outside events the group has not looked at yet (noticed at a poll).
    pending_outside: Vec<CancelReason>,
    /// `drain_on_error` drain in progress (the group was polled after the fire).
    draining: bool,
    parent: Option<TryGroup<'static, (), Er>>,
    parent_handle: Option<Handle<'static, (), Er>>,
    parent_cancelled: bool,
    listeners: Vec<Listener>,
    semaphore: Option<Arc<Semaphore>>,
    stream_err: bool,
    /// Permits of the shared semaphore held from outside (`Op::Permit`).
    held: Vec<async_lock::SemaphoreGuardArc>,
    checked_after_end: bool,
    stats: Stats,
    /// Report [`KNOWN_BUG_RULE12`] as a violation.
    strict: bool,
}

/// Runs `script` and checks every invariant; `Err` explains the first
/// violation, with the trace.
///
/// Strict: no known crate bug is tolerated. (While a found bug awaits its fix,
/// `run_tolerant` lets the random search keep looking for new ones.)
pub fn run(script: &Script) -> Result<Stats, String> {
    run_with(script, true)
}

/// [`run`], but tolerating a crate bug found and not yet fixed, so that the
/// random search and the fuzzer can keep looking for new ones while a
/// regression test holds the known one. None is open today; it still
/// tolerates [`KNOWN_BUG_FIFO_GROW`] (fixed) as the pattern for the next.
pub fn run_tolerant(script: &Script) -> Result<Stats, String> {
    run_with(script, false)
}

/// Crate bug found by this model, fixed in `395a31d`: with more than 4
/// children in flight the inline set (`src/core/running.rs`) grew into a
/// `FuturesUnordered` by moving its slots in *slot* order, not push-index
/// order, so a child that left the queue later could be polled (started)
/// before earlier ones that were still unpolled — seen with a shared semaphore (every start queues) and a
/// handle push. SPEC: `push` "starts (is polled) ... else waits FIFO in the
/// queue"; quality bar "queued children start FIFO". Regression:
/// `fifo_grow_cases` / `regression_queued_children_start_fifo_when_the_set_grows`.
pub const KNOWN_BUG_FIFO_GROW: &str = "queued children polled out of order when the set grows";

/// Crate bug found by this model, fixed in `b441af1`: after
/// `Handle::cancel()` has fired the token, and before the group's next poll,
/// `Handle::push` and `try_push` still return `Ok` — the child is then dropped
/// unpolled at that poll. SPEC rule 12 says both give the future back once the
/// group has been cancelled (and rule 6: never neither). `tests/model_prop.rs`
/// keeps the scripts as regressions (`rule12_cases`).
pub const KNOWN_BUG_RULE12: &str = "push accepted after Handle::cancel, before the group polled";

/// Crate bug found by this model, fixed in `6fa73ab`: when a
/// `drain_on_error` group stopped, `Core::stop` took
/// the inbox in with `accept()`, which put handle-pushed children straight in
/// flight when a slot was free, so they were started and drained although they
/// were still queued (SPEC: queued includes handle pushes not taken in yet)
/// when the group failed or was cancelled. Rule 12: nothing new starts while
/// draining. Regressions: `drain_inbox_cases` and
/// `regression_drain_does_not_start_handle_pushes` in `tests/model_prop.rs`.
pub const KNOWN_BUG_DRAIN_INBOX: &str = "drain starts handle pushes still in the inbox at the stop";

fn run_with(script: &Script, strict: bool) -> Result<Stats, String> {
    install_panic_hook();
    let script = script.clone().normalized();
    let mut d = Driver::new(script);
    // KNOWN_BUG_RULE12 and KNOWN_BUG_DRAIN_INBOX are fixed: never tolerated.
    d.strict = true;
    d.sh.lock().strict = true;
    d.sh.lock().tolerate_fifo_grow = !strict;
    let res = d.run_all();
    d.teardown();
    let violations = std::mem::take(&mut d.sh.lock().violations);
    let log = std::mem::take(&mut d.sh.lock().log);
    match (res, violations.first()) {
        (Ok(()), None) => Ok(d.stats),
        (res, first) => {
            let msg = res.err().or(first.cloned()).unwrap();
            let mut out = format!("{msg}\nscript: {:?}\ntrace (last 80):\n", d.script);
            for line in log.iter().rev().take(80).rev() {
                let _ = writeln!(out, "{line}");
            }
            if violations.len() > 1 {
                let _ = writeln!(out, "all violations: {violations:#?}");
            }
            Err(out)
        }
    }
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

impl Driver {
    fn new(script: Script) -> Self {
        let mut group: Group = match script.limit {
            Some(l) => TryGroup::with_limit(l as usize),
            None => TryGroup::new(),
        };
        if script.drain {
            group = group.drain_on_error();
        }
        if script.catch_panics {
            group = group.catch_panics();
        }
        let token = group.token();
        let world = World {
            kids: Vec::new(),
            by_index: Vec::new(),
            slots: Default::default(),
            trigger_fired: false,
            trigger_waker: None,
            trigger_drops: 0,
            sources: Vec::new(),
            held_permits: 0,
            limit: script.limit.map(usize::from),
            in_poll: false,
            events: Vec::new(),
            ok_completions: VecDeque::new(),
            given_back: Vec::new(),
            cut_short: false,
            strict: true,
            tolerate_fifo_grow: false,
            grown: false,
            violations: Vec::new(),
            log: Vec::new(),
        };
        let sh = Arc::new(Shared {
            world: Mutex::new(world),
            templates: script.children.clone(),
            token: token.clone(),
            handle: Mutex::new(None),
            mode: script.mode,
            drain: script.drain,
            catch_panics: script.catch_panics,
            permits: script.semaphore.map(usize::from),
        });
        if script.trigger {
            group = group.cancel_on(Trigger(sh.clone()));
        }
        let (mut parent, mut parent_handle) = (None, None);
        if script.parent != Parent::None {
            let p = TryGroup::<'static, (), Er>::new();
            let ph = p.handle();
            if script.parent == Parent::Fired {
                ph.cancel();
            }
            group = group.with_parent(&p.token());
            parent = Some(p);
            parent_handle = Some(ph);
        }
        let semaphore = script
            .semaphore
            .map(|p| Arc::new(Semaphore::new(p as usize)));
        if let Some(s) = &semaphore {
            group = group.with_semaphore(s.clone());
        }
        let handle = group.handle();
        *sh.handle.lock().unwrap() = Some(handle.clone());
        let waker = Arc::new(CountWaker::default());
        let mut d = Driver {
            sh,
            subject: Subject::Group(Box::new(group)),
            life: Life::Running,
            polled_once: false,
            registered: waker.clone(),
            polled_at: 0,
            next_waker: waker,
            handle,
            token,
            seen_reason: None,
            pending_outside: Vec::new(),
            draining: false,
            parent,
            parent_handle,
            parent_cancelled: script.parent == Parent::Fired,
            core_knows: script.parent == Parent::Fired,
            listeners: Vec::new(),
            semaphore,
            stream_err: false,
            held: Vec::new(),
            checked_after_end: false,
            stats: Stats::default(),
            strict: true,
            script,
        };
        d.add_listener();
        d
    }

    fn log(&self, s: String) {
        self.sh.lock().log.push(s);
    }

    fn violations(&self) -> Result<(), String> {
        match self.sh.lock().violations.first() {
            Some(v) => Err(v.clone()),
            None => Ok(()),
        }
    }

    fn add_listener(&mut self) {
        let mut fut = Box::pin(self.token.cancelled());
        let waker = Arc::new(CountWaker::default());
        let ready = fut
            .as_mut()
            .poll(&mut Context::from_waker(&Waker::from(waker.clone())))
            .is_ready();
        if ready != self.token.is_cancelled() {
            self.sh.lock().violation(format!(
                "cancelled() ready = {ready} but is_cancelled = {}",
                self.token.is_cancelled()
            ));
        }
        self.listeners.push(Listener {
            fut,
            waker,
            armed: !ready,
        });
    }

    fn group(&mut self) -> Option<&mut Group> {
        match &mut self.subject {
            Subject::Group(g) => Some(g),
            _ => None,
        }
    }

    fn finished(&self) -> bool {
        matches!(self.life, Life::Finished | Life::Poisoned | Life::Dropped)
    }

    fn wake_pending(&self) -> bool {
        !self.polled_once
            || self.life == Life::ItemReady
            || self.registered.count() > self.polled_at
    }

    fn run_all(&mut self) -> Result<(), String> {
        self.check_reason(Ctx::Build)?;
        // Every template is pushed once, in order.
        for t in 0..self.script.children.len() {
            self.op(Op::Push(t as u8))?;
        }
        for i in 0..self.script.ops.len() {
            let op = self.script.ops[i];
            self.op(op)?;
        }
        self.end_phase()?;
        self.final_checks()
    }

    fn op(&mut self, op: Op) -> Result<(), String> {
        self.stats.ops += 1;
        self.log(format!("op {op:?}"));
        let before = self.group_counts();
        self.sh.lock().events.clear();
        let ctx = match op {
            Op::Poll => self.poll(false)?,
            Op::SpuriousPoll => self.poll(true)?,
            Op::ChangeWaker => {
                self.next_waker = Arc::new(CountWaker::default());
                Ctx::Quiet
            }
            Op::FireSlot(k) => {
                let wakers = {
                    let mut w = self.sh.lock();
                    w.slots[k as usize].0 = true;
                    std::mem::take(&mut w.slots[k as usize].1)
                };
                wakers.into_iter().for_each(Waker::wake);
                Ctx::Quiet
            }
            Op::HandleCancel => {
                let first = !self.token.is_cancelled();
                self.handle.cancel();
                if !first && self.draining && !self.finished() {
                    // An outside cancel during a drain cuts it short (rule 12).
                    self.sh.lock().cut_short = true;
                }
                if first {
                    Ctx::Cancel
                } else {
                    Ctx::Quiet
                }
            }
            Op::FireTrigger => {
                let (first, waker) = {
                    let mut w = self.sh.lock();
                    let first = !w.trigger_fired;
                    w.trigger_fired = true;
                    (first, w.trigger_waker.take())
                };
                if self.script.trigger && first {
                    self.outside_event(CancelReason::Trigger);
                }
                if let Some(w) = waker {
                    w.wake();
                }
                Ctx::Quiet
            }
            Op::CancelParent => {
                if let Some(ph) = &self.parent_handle {
                    if !self.parent_cancelled {
                        self.parent_cancelled = true;
                        ph.cancel();
                        self.outside_event(CancelReason::Parent);
                    }
                }
                Ctx::Quiet
            }
            Op::SetLimit(l) => {
                let limit = (l != 0).then_some(l as usize);
                if let Some(g) = self.group() {
                    if !g.is_terminated() {
                        g.set_limit(limit);
                        let mut w = self.sh.lock();
                        w.limit = limit;
                        for k in w
                            .kids
                            .iter_mut()
                            .filter(|k| k.index.is_some() && !k.started)
                        {
                            k.max_limit = match (k.max_limit, limit) {
                                (Some(a), Some(b)) => Some(a.max(b)),
                                _ => None,
                            };
                        }
                    }
                }
                Ctx::Quiet
            }
            Op::Push(t) => {
                self.direct_push(t as usize)?;
                Ctx::Quiet
            }
            Op::TryPush(t) => {
                self.try_push(t as usize)?;
                Ctx::Quiet
            }
            Op::HandlePush(t) => {
                self.handle_push(t as usize);
                Ctx::Quiet
            }
            Op::DropGroup => self.drop_subject()?,
            Op::Feed(t) => {
                self.feed(t as usize)?;
                Ctx::Quiet
            }
            Op::Permit(hold) => {
                if let Some(s) = &self.semaphore {
                    if hold {
                        if let Some(g) = s.try_acquire_arc() {
                            self.held.push(g);
                            self.sh.lock().held_permits += 1;
                        }
                    } else if let Some(g) = self.held.pop() {
                        self.sh.lock().held_permits -= 1;
                        drop(g);
                    }
                }
                Ctx::Quiet
            }
        };
        self.drop_given_back()?;
        self.check_reason(ctx)?;
        self.check_counts(before)?;
        self.check_wake()?;
        self.violations()
    }

    /// An outside event the group notices at its next poll.
    fn outside_event(&mut self, reason: CancelReason) {
        if self.finished() {
            return;
        }
        if self.token.is_cancelled() {
            if self.draining {
                self.sh.lock().cut_short = true;
            }
        } else {
            self.pending_outside.push(reason);
        }
    }

    fn direct_push(&mut self, t: usize) -> Result<(), String> {
        let Subject::Group(_) = &self.subject else {
            return Ok(());
        };
        if self.life == Life::Finished || self.life == Life::Poisoned {
            // Rule 7: `push` on a finished group panics (checked with a plain
            // future: a scripted child dropped while unwinding could abort).
            let g = self.group().unwrap();
            let r = quietly(|| g.push(std::future::ready(Ok(0))));
            if r.is_ok() {
                bail!("push on a completed group did not panic (rule 7)");
            }
            return Ok(());
        }
        let Some(child) = self.sh.new_child(t) else {
            return Ok(());
        };
        let label = child.label;
        self.sh.lock().kids[label].with_group = true;
        let g = self.group().unwrap();
        let queued_before = g.queued();
        let r = quietly(|| g.push(child));
        let queued_after = g.queued();
        let fired = self.token.is_cancelled();
        let mut w = self.sh.lock();
        let dropped = w.kids[label].drops > 0;
        let drop_panicked = w.kids[label].drop_panics && dropped;
        match r {
            Err(p) if !drop_panicked => {
                bail!("push panicked: {}", describe(&*p))
            }
            Ok(()) if drop_panicked => {
                bail!("child {label}'s Drop panicked inside push, and push swallowed it (rule 10)")
            }
            _ => {}
        }
        if dropped {
            if !fired {
                bail!("push of child {label} dropped it though the group is running");
            }
            w.log.push(format!("  push {label}: dropped unpolled"));
        } else {
            if self.core_knows {
                bail!("push of child {label} accepted after the group stopped (rule 12)");
            }
            // Either reading: after an outside cancel the group has not
            // looked at yet, the crate may take the child (and drop it at its
            // next poll) or drop it at once; both leave it unpolled.
            w.number(label, fired);
            w.kids[label].in_gap = fired;
            w.kids[label].known_queued = queued_after > queued_before;
            let index = w.kids[label].index;
            w.log.push(format!("  push {label}: index {index:?}"));
        }
        Ok(())
    }

    fn feed(&mut self, t: usize) -> Result<(), String> {
        let Subject::Group(_) = &self.subject else {
            return Ok(());
        };
        if self.sh.templates.is_empty() {
            return Ok(());
        }
        if self.life == Life::Finished || self.life == Life::Poisoned {
            // Rule 7: like `push`, `feed` on a completed group panics.
            let g = self.group().unwrap();
            let r = quietly(|| g.feed(std::iter::empty::<std::future::Ready<Result<usize, Er>>>()));
            if r.is_ok() {
                bail!("feed on a completed group did not panic (rule 7)");
            }
            return Ok(());
        }
        let id = {
            let mut w = self.sh.lock();
            w.sources.push(SourceRec::default());
            w.sources.len() - 1
        };
        let source = Source {
            shared: self.sh.clone(),
            id,
            next_template: t,
            left: 3,
        };
        let g = self.group().unwrap();
        g.feed(source);
        let drops = self.sh.lock().sources[id].drops;
        if self.core_knows && drops == 0 {
            bail!("feed on a stopped group kept the source (rule 12: nothing new starts)");
        }
        if !self.token.is_cancelled() && drops != 0 {
            bail!("feed on a running group dropped the source");
        }
        Ok(())
    }

    fn try_push(&mut self, t: usize) -> Result<(), String> {
        let held = self.sh.lock().held_permits;
        let permits = self.sh.permits.map(|p| p.saturating_sub(held));
        let limit = self.sh.lock().limit;
        let fired = self.token.is_cancelled();
        let life = self.life;
        let Some(g) = self.group() else {
            return Ok(());
        };
        let (in_flight, queued) = (g.in_flight(), g.queued());
        let can_start = !fired
            && life != Life::Finished
            && life != Life::Poisoned
            && limit.is_none_or(|l| in_flight < l)
            && queued == 0
            && permits.is_none_or(|p| in_flight < p);
        let Some(child) = self.sh.new_child(t) else {
            return Ok(());
        };
        let label = child.label;
        let g = self.group().unwrap();
        let r = g.try_push(child);
        let mut w = self.sh.lock();
        match r {
            Ok(()) => {
                w.kids[label].with_group = true;
                w.number(label, fired);
                w.kids[label].in_gap = fired && !self.core_knows;
                w.log.push(format!("  try_push {label}: accepted"));
                if !can_start && self.known_rule12_gap(fired) {
                    w.log.push(format!("  tolerated: {KNOWN_BUG_RULE12}"));
                } else if !can_start {
                    w.violation(format!(
                        "try_push of child {label} accepted though it cannot start now \
                         (fired {fired}, life {life:?}, in flight {in_flight}, queued {queued}, \
                         limit {limit:?}, permits {permits:?}) (rule 12 / TryGo)"
                    ));
                }
            }
            Err(f) => {
                w.log.push(format!("  try_push {label}: refused"));
                check_intact(&mut w, &f, label);
                if can_start {
                    w.violation(format!(
                        "try_push of child {label} refused though a slot was free"
                    ));
                }
                w.given_back.push(f);
            }
        }
        Ok(())
    }

    fn handle_push(&mut self, t: usize) {
        let Some(child) = self.sh.new_child(t) else {
            return;
        };
        let label = child.label;
        let open = !self.finished() && !self.token.is_cancelled();
        let r = self.handle.push(child);
        let mut w = self.sh.lock();
        match r {
            Ok(()) => {
                w.log.push(format!("  Handle::push {label}: accepted"));
                if !open && self.known_rule12_gap(self.token.is_cancelled()) {
                    w.log.push(format!("  tolerated: {KNOWN_BUG_RULE12}"));
                } else if !open {
                    w.violation(format!(
                        "Handle::push of child {label} accepted by a group that has \
                         stopped or finished (life {:?}, token {:?}) (rules 6 and 12)",
                        self.life,
                        self.token.reason()
                    ));
                }
                let k = &mut w.kids[label];
                k.with_group = true;
                k.in_inbox = true;
            }
            Err(Closed(f)) => {
                w.log.push(format!("  Handle::push {label}: Closed"));
                check_intact(&mut w, &f, label);
                if open {
                    w.violation(format!(
                        "Handle::push of child {label} refused by a running group"
                    ));
                }
                w.given_back.push(f);
            }
        }
    }

    /// The token fired from outside (`Handle::cancel`) and the group has not
    /// polled since: the window of [`KNOWN_BUG_RULE12`].
    fn known_rule12_gap(&self, fired: bool) -> bool {
        !self.strict && fired && !self.core_knows && !self.finished()
    }

    /// Drops the futures that came back, outside any poll; a panicking `Drop`
    /// of ours is expected there.
    fn drop_given_back(&mut self) -> Result<(), String> {
        let back = std::mem::take(&mut self.sh.lock().given_back);
        for child in back {
            let label = child.label;
            let panics = child.shared.lock().kids[label].drop_panics;
            self.sh.lock().kids[label].with_group = false;
            let r = quietly(|| drop(child));
            if r.is_err() != panics {
                bail!("dropping given-back child {label}: unexpected unwind result");
            }
        }
        Ok(())
    }

    /// `(in_flight, queued, limit)` while the group is a `TryGroup`.
    fn group_counts(&mut self) -> Option<(usize, usize, Option<usize>)> {
        let limit = self.sh.lock().limit;
        let done = self.finished();
        let g = self.group()?;
        (!done).then(|| (g.in_flight(), g.queued(), limit))
    }

    fn check_counts(
        &mut self,
        before: Option<(usize, usize, Option<usize>)>,
    ) -> Result<(), String> {
        let Some((in_flight, queued, limit)) = self.group_counts() else {
            return Ok(());
        };
        let w = self.sh.lock();
        let live = w.live_started();
        if in_flight < live {
            bail!("in_flight() = {in_flight} but {live} started children are live");
        }
        let alive_accepted = w
            .kids
            .iter()
            .filter(|k| (k.index.is_some() || k.in_inbox) && k.outcome.is_none() && k.drops == 0)
            .count();
        let fired = self.token.is_cancelled();
        if !fired && in_flight + queued != alive_accepted {
            bail!(
                "in_flight() + queued() = {in_flight} + {queued}, but the model has \
                 {alive_accepted} accepted children alive"
            );
        }
        if let Some((before, _, limit_before)) = before {
            if in_flight > before {
                let max = match (limit, limit_before) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                if let Some(m) = max {
                    if in_flight > m {
                        bail!("in_flight() grew to {in_flight} above the limit {m}");
                    }
                }
            }
        }
        Ok(())
    }

    /// No lost wake-up: an unfinished group that was not woken must have
    /// nothing to do (every live child waits on something that has not
    /// happened, and no child could start).
    fn check_wake(&mut self) -> Result<(), String> {
        if self.finished() || self.wake_pending() {
            return Ok(());
        }
        let fired = self.token.is_cancelled();
        let limit = self.sh.lock().limit;
        let w = self.sh.lock();
        for (label, k) in w.kids.iter().enumerate() {
            if !(k.started && k.outcome.is_none() && k.drops == 0) {
                continue;
            }
            let blocked = match k.blocked {
                Blocked::Slot(s) => !w.slots[s].0,
                Blocked::Token => !fired,
                Blocked::Busy => false,
            };
            if !blocked {
                bail!(
                    "lost wake-up: child {label} can make progress ({:?}, token {:?}) \
                     but the group's waker was not woken",
                    k.blocked,
                    self.token.reason()
                );
            }
        }
        if !self.pending_outside.is_empty() {
            bail!(
                "lost wake-up: outside event {:?} not followed by a wake",
                self.pending_outside
            );
        }
        if fired && !self.script.drain && self.polled_once {
            bail!("lost wake-up: the token fired but the group was not woken to finish");
        }
        if fired && self.draining {
            // After the stop only in-flight children are alive: each must run.
            if let Some(l) = w
                .kids
                .iter()
                .position(|k| k.index.is_some() && !k.started && k.drops == 0)
            {
                bail!("lost wake-up: child {l} is in flight (draining) but never polled");
            }
        }
        if !fired {
            let live = w.live_started();
            let waiting = w
                .kids
                .iter()
                .any(|k| (k.index.is_some() || k.in_inbox) && !k.started && k.drops == 0)
                || w.sources.iter().any(|s| s.drops == 0 && !s.exhausted);
            let cap = match (
                limit,
                self.sh.permits.map(|p| p.saturating_sub(w.held_permits)),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if waiting && cap.is_none_or(|c| live < c) {
                bail!(
                    "lost wake-up: a child could start ({live} live, cap {cap:?}) \
                     but the group was not woken"
                );
            }
        }
        Ok(())
    }

    // ---- polling ------------------------------------------------------------

    fn poll(&mut self, spurious: bool) -> Result<Ctx, String> {
        if matches!(self.subject, Subject::Gone) {
            return Ok(Ctx::Quiet);
        }
        if self.finished() {
            return self.poll_after_end().map(|()| Ctx::Quiet);
        }
        if !spurious && !self.wake_pending() {
            return Ok(Ctx::Quiet);
        }
        // First poll of `settle()` / `into_stream()`: convert the group.
        if let Subject::Group(_) = &self.subject {
            if self.script.mode != Mode::Future {
                let Subject::Group(g) = std::mem::replace(&mut self.subject, Subject::Gone) else {
                    unreachable!()
                };
                self.subject = match self.script.mode {
                    Mode::Settle => Subject::Settle(Box::new((*g).settle())),
                    _ => Subject::Stream(Box::new((*g).into_stream())),
                };
            }
        }
        let fired_before = self.token.is_cancelled();
        {
            // Handle pushes made since the last poll are taken in (numbered)
            // now, after the direct pushes (rule 11).
            let mut w = self.sh.lock();
            let inbox: Vec<usize> = (0..w.kids.len())
                .filter(|&l| w.kids[l].in_inbox && w.kids[l].drops == 0)
                .collect();
            for l in inbox {
                w.number(l, fired_before);
                w.kids[l].inbox_after_fire = fired_before;
            }
            w.in_poll = true;
        }
        self.registered = self.next_waker.clone();
        self.polled_at = self.registered.count();
        self.polled_once = true;
        self.stats.polls += 1;
        let waker = Waker::from(self.registered.clone());
        let mut cx = Context::from_waker(&waker);
        let polled = match &mut self.subject {
            Subject::Group(g) => match quietly(|| Pin::new(&mut **g).poll(&mut cx)) {
                Ok(Poll::Ready(r)) => Polled::Collect(r),
                Ok(Poll::Pending) => Polled::Pending,
                Err(p) => Polled::Unwound(p),
            },
            Subject::Settle(s) => match quietly(|| Pin::new(s).poll(&mut cx)) {
                Ok(Poll::Ready(r)) => Polled::Settle(r),
                Ok(Poll::Pending) => Polled::Pending,
                Err(p) => Polled::Unwound(p),
            },
            Subject::Stream(s) => match quietly(|| Pin::new(s).poll_next(&mut cx)) {
                Ok(Poll::Ready(r)) => Polled::Item(r),
                Ok(Poll::Pending) => Polled::Pending,
                Err(p) => Polled::Unwound(p),
            },
            Subject::Gone => unreachable!(),
        };
        self.sh.lock().in_poll = false;
        if self.listeners.len() < 2 {
            self.add_listener();
        }
        let ctx = self.after_poll(polled)?;
        if self.token.is_cancelled() {
            self.core_knows = true;
            self.pending_outside.clear();
            if self.script.drain && !self.finished() {
                self.draining = true;
            }
        } else if !self.pending_outside.is_empty() && !self.finished() {
            bail!(
                "the group was polled after {:?} but did not cancel",
                self.pending_outside
            );
        }
        Ok(ctx)
    }

    /// Rule 7: polling a completed group panics; a stream yields `None`.
    fn poll_after_end(&mut self) -> Result<(), String> {
        if self.checked_after_end {
            return Ok(());
        }
        self.checked_after_end = true;
        let waker = Waker::from(Arc::new(CountWaker::default()));
        let mut cx = Context::from_waker(&waker);
        self.sh.lock().events.clear();
        match &mut self.subject {
            Subject::Group(g) => {
                if !g.is_terminated() {
                    bail!("is_terminated() is false on a finished group");
                }
                match quietly(|| Pin::new(&mut **g).poll(&mut cx)) {
                    Err(p) if p.is::<String>() || p.is::<&str>() => {}
                    Err(p) => bail!("poll after completion: odd panic {}", describe(&*p)),
                    Ok(_) => bail!("polling a completed group did not panic (rule 7)"),
                }
            }
            Subject::Settle(s) => {
                if !s.is_terminated() {
                    bail!("is_terminated() is false on a finished settle()");
                }
                match quietly(|| Pin::new(s).poll(&mut cx)) {
                    Err(p) if p.is::<String>() || p.is::<&str>() => {}
                    Err(p) => bail!("poll after completion: odd panic {}", describe(&*p)),
                    Ok(_) => bail!("polling a completed settle() did not panic (rule 7)"),
                }
            }
            Subject::Stream(s) => match quietly(|| Pin::new(s).poll_next(&mut cx)) {
                Ok(Poll::Ready(None)) => {}
                _ => bail!("a finished stream must yield None for ever"),
            },
            Subject::Gone => {}
        }
        if !self.sh.lock().events.is_empty() {
            bail!("a child was touched by a poll after completion");
        }
        Ok(())
    }

    fn after_poll(&mut self, polled: Polled) -> Result<Ctx, String> {
        let events = self.sh.lock().events.clone();
        let drop_panics: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Ev::Dropped {
                    label,
                    panics: true,
                } => Some(*label),
                _ => None,
            })
            .collect();
        let uncaught: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Ev::Done {
                    label,
                    outcome: Outcome::Panic,
                    ..
                } if !self.script.catch_panics => Some(*label),
                _ => None,
            })
            .collect();
        let must_unwind = !drop_panics.is_empty() || !uncaught.is_empty();
        let outcome = match &polled {
            Polled::Pending => PollEnd::Pending,
            Polled::Unwound(_) => PollEnd::Unwound,
            Polled::Item(Some(Ok(_))) => PollEnd::Pending,
            _ => PollEnd::Ready,
        };
        if must_unwind && outcome != PollEnd::Unwound {
            bail!(
                "a panic was swallowed: drop panics {drop_panics:?}, child panics \
                 {uncaught:?} without catch_panics (rules 5, 10)"
            );
        }
        match polled {
            Polled::Pending => {
                self.life = Life::Running;
                self.log("  -> Pending".into());
            }
            Polled::Unwound(payload) => {
                self.log(format!("  -> unwound: {}", describe(&*payload)));
                self.stats.unwound = true;
                let ok = payload
                    .downcast_ref::<ChildPanic>()
                    .is_some_and(|p| uncaught.contains(&p.0) || drop_panics.contains(&p.0))
                    || payload
                        .downcast_ref::<DropPanic>()
                        .is_some_and(|p| drop_panics.contains(&p.0));
                if !ok {
                    bail!(
                        "the poll unwound with {} (child panics {uncaught:?}, drop panics \
                         {drop_panics:?}); rule 5/10 want the original payload",
                        describe(&*payload)
                    );
                }
                if let Some(ChildPanic(l)) = payload.downcast_ref::<ChildPanic>() {
                    // Without catch_panics the original payload resumes; a
                    // child whose Drop also panics may resume either payload.
                    let _ = l;
                }
                self.life = Life::Poisoned;
                self.check_all_dropped("after the poll unwound")?;
            }
            Polled::Collect(r) => {
                self.log(format!("  -> Ready({})", brief_collect(&r)));
                self.life = Life::Finished;
                self.stats.finished = true;
                self.check_all_dropped("when the group returned")?;
                let reason = self.token.reason();
                match r {
                    Ok(values) => {
                        if reason != Some(CancelReason::Finished) {
                            bail!("Ok output but the token says {reason:?} (rule 8)");
                        }
                        let w = self.sh.lock();
                        if w.sources.iter().any(|s| !s.exhausted) {
                            bail!("Ok output before every lazy source was exhausted (rule 6)");
                        }
                        let expected: Vec<usize> = w.by_index.clone();
                        if values != expected {
                            bail!("Ok values {values:?}, model (push order) {expected:?} (rule 1)");
                        }
                        for &l in &expected {
                            if w.kids[l].outcome != Some(Outcome::Ok) {
                                bail!("Ok output includes child {l}, which did not return Ok");
                            }
                        }
                    }
                    Err(e) => {
                        self.stats.failed = true;
                        self.check_error(&e, reason)?;
                    }
                }
            }
            Polled::Settle(v) => {
                self.log(format!("  -> Ready(settle, {} results)", v.len()));
                self.life = Life::Finished;
                self.stats.finished = true;
                self.check_all_dropped("when settle() returned")?;
                self.check_settle(v)?;
            }
            Polled::Item(Some(Ok(v))) => {
                self.log(format!("  -> Some(Ok({v}))"));
                self.life = Life::ItemReady;
                let mut w = self.sh.lock();
                loop {
                    match w.ok_completions.pop_front() {
                        Some((l, _)) if l == v => break,
                        // Either reading: a value of a child whose Drop
                        // panicked may be lost.
                        Some((_, true)) => continue,
                        other => {
                            bail!("stream yielded Ok({v}); the next Ok completion was {other:?}")
                        }
                    }
                }
            }
            Polled::Item(Some(Err(e))) => {
                self.log(format!("  -> Some(Err({}))", brief_err(&e)));
                if self.stream_err {
                    bail!("the stream yielded a second Err");
                }
                self.stream_err = true;
                self.stats.failed = true;
                self.life = Life::Finished;
                self.stats.finished = true;
                self.check_all_dropped("when the stream yielded its Err")?;
                let reason = self.token.reason();
                self.check_error(&e, reason)?;
                // The stream ends after its error.
                self.checked_after_end = false;
                self.poll_after_end()?;
            }
            Polled::Item(None) => {
                self.log("  -> None".into());
                self.life = Life::Finished;
                self.stats.finished = true;
                self.check_all_dropped("when the stream ended")?;
                let reason = self.token.reason();
                if reason != Some(CancelReason::Finished) {
                    bail!("stream ended without an Err, but the token says {reason:?}");
                }
                let w = self.sh.lock();
                if w.sources.iter().any(|s| !s.exhausted) {
                    bail!("the stream ended before every lazy source was exhausted (rule 6)");
                }
                if w.ok_completions.iter().any(|(_, lossy)| !lossy) {
                    bail!(
                        "stream ended with Ok values not yielded: {:?}",
                        w.ok_completions
                    );
                }
                for &l in &w.by_index {
                    if w.kids[l].outcome != Some(Outcome::Ok) {
                        bail!("stream ended cleanly but child {l} did not return Ok");
                    }
                }
            }
        }
        Ok(Ctx::Poll {
            events,
            outcome,
            accepted: self.sh.lock().by_index.len(),
            outside: self.pending_outside.clone(),
        })
    }

    fn check_error(&self, e: &Er, reason: Option<CancelReason>) -> Result<(), String> {
        let w = self.sh.lock();
        let label_of = |i: usize| w.by_index.get(i).copied();
        match (reason, e) {
            (Some(CancelReason::Failed { index }), Er::Child(l)) => {
                if label_of(index) != Some(*l) {
                    bail!("Err(child {l}) but the token names index {index} (rule 8)");
                }
                if w.kids[*l].outcome != Some(Outcome::Err) {
                    bail!("Err(child {l}) but it did not return Err");
                }
            }
            (Some(CancelReason::Panicked { index }), Er::Panicked(p)) => {
                if !self.script.catch_panics {
                    bail!("Err(Panicked) without catch_panics");
                }
                if p.index() != index {
                    bail!(
                        "Panicked {{ index: {} }} but the token says {index}",
                        p.index()
                    );
                }
                let Some(l) = label_of(index) else {
                    bail!("Panicked index {index} is not a child")
                };
                if w.kids[l].outcome != Some(Outcome::Panic) {
                    bail!("Panicked names child {l}, which did not panic");
                }
            }
            (Some(r), Er::Cancelled(c)) if r.is_outside() => {
                if c.reason() != r {
                    bail!("Err(Cancelled({:?})) but the token says {r:?}", c.reason());
                }
            }
            (r, e) => bail!(
                "output Err({}) does not follow the token {r:?} (rule 8)",
                brief_err(e)
            ),
        }
        Ok(())
    }

    fn check_settle(&self, v: Vec<Result<usize, Er>>) -> Result<(), String> {
        let reason = self.token.reason();
        let Some(reason) = reason else {
            bail!("settle() returned but the token has not fired")
        };
        if reason != CancelReason::Finished && !reason.is_outside() {
            bail!("settle() returned with the token at {reason:?}");
        }
        let w = self.sh.lock();
        if reason == CancelReason::Finished && w.sources.iter().any(|s| !s.exhausted) {
            bail!("settle() finished before every lazy source was exhausted (rule 6)");
        }
        if v.len() != w.by_index.len() {
            bail!(
                "settle() gave {} results for {} accepted children",
                v.len(),
                w.by_index.len()
            );
        }
        for (i, (r, &l)) in v.iter().zip(&w.by_index).enumerate() {
            let ok = match (w.kids[l].outcome, r) {
                (Some(Outcome::Ok), Ok(x)) => *x == l,
                (Some(Outcome::Err), Err(Er::Child(x))) => *x == l,
                (Some(Outcome::Panic), Err(Er::Panicked(p))) => {
                    self.script.catch_panics && p.index() == i
                }
                (None, Err(Er::Cancelled(c))) => reason.is_outside() && c.reason() == reason,
                _ => false,
            };
            if !ok {
                bail!(
                    "settle()[{i}] = {} but child {l} ended {:?} (token {reason:?})",
                    match r {
                        Ok(x) => format!("Ok({x})"),
                        Err(e) => format!("Err({})", brief_err(e)),
                    },
                    w.kids[l].outcome
                );
            }
        }
        Ok(())
    }

    /// Every child the group was given has been dropped, exactly once.
    fn check_all_dropped(&self, when: &str) -> Result<(), String> {
        let w = self.sh.lock();
        for (l, k) in w.kids.iter().enumerate() {
            if k.with_group && k.drops != 1 {
                bail!("{when}: child {l} dropped {} times ({k:?})", k.drops);
            }
        }
        for (id, src) in w.sources.iter().enumerate() {
            if src.drops != 1 {
                bail!("{when}: lazy source {id} dropped {} times", src.drops);
            }
        }
        if self.script.trigger && w.trigger_drops != 1 {
            bail!(
                "{when}: the cancel_on trigger was dropped {} times",
                w.trigger_drops
            );
        }
        Ok(())
    }

    fn drop_subject(&mut self) -> Result<Ctx, String> {
        let subject = std::mem::replace(&mut self.subject, Subject::Gone);
        if matches!(subject, Subject::Gone) {
            return Ok(Ctx::Quiet);
        }
        let was_finished = self.finished();
        let r = quietly(|| drop(subject));
        self.life = Life::Dropped;
        let events = self.sh.lock().events.clone();
        let drop_panics: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Ev::Dropped {
                    label,
                    panics: true,
                } => Some(*label),
                _ => None,
            })
            .collect();
        match r {
            Ok(()) if !drop_panics.is_empty() => {
                bail!("dropping the group swallowed the Drop panics of {drop_panics:?} (rule 10)")
            }
            Err(p) => {
                let ok = p
                    .downcast_ref::<DropPanic>()
                    .is_some_and(|d| drop_panics.contains(&d.0));
                if !ok {
                    bail!("dropping the group unwound with {}", describe(&*p));
                }
            }
            Ok(()) => {}
        }
        if was_finished && !events.is_empty() {
            bail!("dropping a finished group touched children: {events:?}");
        }
        self.check_all_dropped("after the group was dropped")?;
        Ok(Ctx::Drop)
    }

    // ---- the token ------------------------------------------------------------

    fn check_reason(&mut self, ctx: Ctx) -> Result<(), String> {
        let now = self.token.reason();
        if let Some(seen) = self.seen_reason {
            if now != Some(seen) {
                bail!("the token's reason changed from {seen:?} to {now:?}");
            }
            return Ok(());
        }
        let Some(r) = now else {
            if let Ctx::Poll {
                events, outcome, ..
            } = &ctx
            {
                if *outcome != PollEnd::Pending {
                    bail!("the group finished or unwound, but its token has not fired");
                }
                if let Some(f) = self.first_failure(events) {
                    if !f.2 {
                        bail!(
                            "child {} failed ({:?}) but the token did not fire",
                            f.0,
                            f.1
                        );
                    }
                }
            }
            return Ok(());
        };
        self.seen_reason = Some(r);
        self.log(format!("  token fired: {r:?}"));
        let allowed: Vec<CancelReason> = match ctx {
            Ctx::Build => vec![CancelReason::Parent],
            Ctx::Cancel => vec![CancelReason::Cancelled],
            Ctx::Drop => vec![CancelReason::Dropped],
            Ctx::Quiet => vec![],
            Ctx::Poll {
                events,
                outcome,
                accepted,
                outside,
            } => {
                let mut allowed = outside.clone();
                let first = self.first_failure(&events);
                if let Some((label, o, lossy)) = first {
                    let index = self.sh.lock().kids[label].index.unwrap_or(usize::MAX);
                    allowed.push(match o {
                        Outcome::Panic => CancelReason::Panicked { index },
                        _ => CancelReason::Failed { index },
                    });
                    if lossy {
                        // Either reading: a child whose Drop panics may lose
                        // its outcome with the unwinding poll.
                        allowed.push(CancelReason::Dropped);
                    }
                }
                if outcome == PollEnd::Unwound && first.is_none() {
                    allowed.push(CancelReason::Dropped);
                }
                if outcome == PollEnd::Ready
                    && first.is_none()
                    && (outside.is_empty() || accepted == 0)
                {
                    // Either reading for an empty group whose trigger already
                    // completed (rules 3 and 13).
                    allowed.push(CancelReason::Finished);
                }
                allowed
            }
        };
        if !allowed.contains(&r) {
            bail!("the token fired {r:?}; the model allows {allowed:?} here (rule 8)");
        }
        for (i, l) in self.listeners.iter_mut().enumerate() {
            let n = l.waker.count();
            if l.armed && n != 1 {
                bail!("listener {i} registered before the fire was woken {n} times");
            }
            let ready = l
                .fut
                .as_mut()
                .poll(&mut Context::from_waker(&Waker::from(l.waker.clone())))
                .is_ready();
            if !ready {
                bail!("listener {i}: cancelled() still pending after the fire");
            }
        }
        Ok(())
    }

    /// The first failure that fires the token in this mode, if the token had
    /// not fired when it happened: `(label, outcome, drop panics)`.
    fn first_failure(&self, events: &[Ev]) -> Option<(usize, Outcome, bool)> {
        let w = self.sh.lock();
        events.iter().find_map(|e| match *e {
            Ev::Done {
                label,
                outcome,
                fired: false,
            } if self.sh.fires(outcome) => Some((label, outcome, w.kids[label].drop_panics)),
            _ => None,
        })
    }

    // ---- the end ----------------------------------------------------------------

    fn end_phase(&mut self) -> Result<(), String> {
        self.log("-- end phase".into());
        while !self.held.is_empty() {
            self.op(Op::Permit(false))?;
        }
        for k in 0..SLOTS {
            self.op(Op::FireSlot(k as u8))?;
        }
        let mut cancelled = false;
        for _ in 0..END_POLLS {
            if self.finished() || matches!(self.subject, Subject::Gone) {
                return Ok(());
            }
            if self.wake_pending() {
                self.op(Op::Poll)?;
            } else if !cancelled {
                // Legitimately stuck (children await the token): cancel.
                cancelled = true;
                self.op(Op::HandleCancel)?;
            } else {
                bail!("the group is stuck: not finished and never woken after a cancel");
            }
        }
        bail!("the group did not finish within {END_POLLS} polls (livelock?)")
    }

    fn final_checks(&mut self) -> Result<(), String> {
        if !self.token.is_cancelled() {
            bail!("the token never fired");
        }
        // Handle::push after the end gives the future back intact (rule 6).
        if let Some(child) = self.sh.new_child(0) {
            let label = child.label;
            match self.handle.push(child) {
                Ok(()) => bail!("Handle::push after the end was accepted"),
                Err(Closed(f)) => {
                    let mut w = self.sh.lock();
                    check_intact(&mut w, &f, label);
                    w.given_back.push(f);
                }
            }
            self.drop_given_back()?;
        }
        if !self.handle.is_closed() {
            bail!("Handle::is_closed() is false after the end");
        }
        // A listener made after the fire completes at once.
        self.add_listener();
        if let Some(s) = &self.semaphore {
            let p = self.sh.permits.unwrap();
            let held: Vec<_> = std::iter::from_fn(|| s.try_acquire_arc())
                .take(p + 1)
                .collect();
            if held.len() != p {
                bail!(
                    "{} of {p} semaphore permits are free after the end",
                    held.len()
                );
            }
        }
        let w = self.sh.lock();
        for (l, k) in w.kids.iter().enumerate() {
            if k.drops != 1 {
                bail!("child {l} dropped {} times by the end", k.drops);
            }
        }
        drop(w);
        self.stats.children = self.sh.lock().kids.len();
        self.violations()
    }

    /// Breaks the reference cycles (children hold handles; the shared state
    /// holds a handle) so nothing leaks, whatever happened.
    fn teardown(&mut self) {
        let subject = std::mem::replace(&mut self.subject, Subject::Gone);
        let _ = quietly(|| drop(subject));
        let _ = quietly(|| drop(self.parent.take()));
        let back = std::mem::take(&mut self.sh.lock().given_back);
        for child in back {
            let _ = quietly(|| drop(child));
        }
        *self.sh.handle.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let wakers: Vec<Waker> = {
            let mut w = self.sh.lock();
            w.trigger_waker = None;
            w.slots
                .iter_mut()
                .flat_map(|s| std::mem::take(&mut s.1))
                .collect()
        };
        drop(wakers);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PollEnd {
    Pending,
    Ready,
    Unwound,
}

/// What an operation could legitimately fire the token with.
enum Ctx {
    Build,
    Quiet,
    Cancel,
    Drop,
    Poll {
        events: Vec<Ev>,
        outcome: PollEnd,
        accepted: usize,
        /// Outside events not yet seen by the group when the poll started.
        outside: Vec<CancelReason>,
    },
}

fn brief_err(e: &Er) -> String {
    match e {
        Er::Child(l) => format!("child {l}"),
        Er::Cancelled(c) => format!("Cancelled({:?})", c.reason()),
        Er::Panicked(p) => format!("Panicked({})", p.index()),
    }
}

fn brief_collect(r: &Result<Vec<usize>, Er>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({})", brief_err(e)),
    }
}

// ---- building scripts by hand ------------------------------------------------

/// A child template from steps.
pub fn child(steps: &[Step]) -> ChildSpec {
    ChildSpec {
        steps: steps.to_vec(),
        drop_panics: false,
    }
}

/// A child template whose `Drop` panics.
pub fn child_drop_panics(steps: &[Step]) -> ChildSpec {
    ChildSpec {
        steps: steps.to_vec(),
        drop_panics: true,
    }
}

/// The tricky cases the issue names, plus a few more, as fixed scripts.
pub fn tricky_cases() -> Vec<(&'static str, Script)> {
    use Op::*;
    use Step as S;
    let mut cases = Vec::new();
    // Limit 1 with the first child failing: the others never start.
    let mut s = Script::new(
        vec![child(&[S::Err]), child(&[S::Ok]), child(&[S::Ok])],
        vec![Poll],
    );
    s.limit = Some(1);
    cases.push(("limit1_first_fails", s));
    // An error while children are queued.
    let mut s = Script::new(
        vec![
            child(&[S::Yield(1), S::Err]),
            child(&[S::Slot(0)]),
            child(&[S::Ok]),
            child(&[S::Ok]),
            child(&[S::Ok]),
        ],
        vec![Poll, Poll, Poll],
    );
    s.limit = Some(2);
    cases.push(("error_while_queued", s));
    // An outside cancel (trigger) in the same poll as a child error.
    let mut s = Script::new(
        vec![child(&[S::Slot(0), S::Err]), child(&[S::Slot(1)])],
        vec![Poll, FireSlot(0), FireTrigger, Poll, Poll],
    );
    s.trigger = true;
    cases.push(("trigger_same_poll_as_error", s.clone()));
    s.drain = true;
    cases.push(("trigger_same_poll_as_error_drain", s.clone()));
    s.drain = false;
    s.trigger = false;
    s.parent = Parent::Fresh;
    s.ops = vec![Poll, FireSlot(0), CancelParent, Poll, Poll];
    cases.push(("parent_same_poll_as_error", s));
    // Handle::cancel between a child becoming ready to fail and the poll.
    let s = Script::new(
        vec![child(&[S::Slot(0), S::Err]), child(&[S::AwaitToken])],
        vec![Poll, FireSlot(0), HandleCancel, Poll],
    );
    cases.push(("handle_cancel_before_error_poll", s));
    // A child pushing 10 children under limit 2.
    let mut s = Script::new(
        vec![child(&[S::Push(1); 10]), child(&[S::Yield(1), S::Ok])],
        vec![Poll; 8],
    );
    s.limit = Some(2);
    cases.push(("child_pushes_10_under_limit_2", s));
    // Dropping the group right after a handle push.
    let s = Script::new(
        vec![child(&[S::Slot(0)])],
        vec![Poll, HandlePush(0), DropGroup],
    );
    cases.push(("drop_right_after_handle_push", s));
    let s = Script::new(
        vec![child(&[S::Slot(0)]), child_drop_panics(&[S::Ok])],
        vec![Poll, HandlePush(1), DropGroup],
    );
    cases.push(("drop_right_after_handle_push_drop_panics", s));
    // set_limit(1) with 4 children in flight.
    let mut s = Script::new(
        vec![
            child(&[S::Yield(1), S::Slot(0)]),
            child(&[S::Yield(1), S::Slot(0)]),
            child(&[S::Yield(1), S::Slot(1)]),
            child(&[S::Yield(1), S::Slot(1)]),
            child(&[S::Ok]),
            child(&[S::Ok]),
        ],
        vec![
            Poll,
            Poll,
            SetLimit(1),
            FireSlot(0),
            Poll,
            Poll,
            Push(4),
            FireSlot(1),
            Poll,
            Poll,
        ],
    );
    s.limit = Some(4);
    cases.push(("set_limit_1_with_4_in_flight", s));
    // Settle with an outside cancel: finished results stay, the rest Cancelled.
    let mut s = Script::new(
        vec![child(&[S::Err]), child(&[S::Slot(0)]), child(&[S::Ok])],
        vec![Poll, HandleCancel, Poll],
    );
    s.mode = Mode::Settle;
    cases.push(("settle_cancel", s));
    // into_stream with drain_on_error: drained Ok values, the error last.
    let mut s = Script::new(
        vec![
            child(&[S::Yield(1), S::Err]),
            child(&[S::AwaitToken, S::Ok]),
            child(&[S::Ok]),
        ],
        vec![Poll; 6],
    );
    s.mode = Mode::Stream;
    s.drain = true;
    cases.push(("stream_drain", s));
    // catch_panics, and a panic without it (original payload resumes).
    let mut s = Script::new(vec![child(&[S::Yield(1)]), child(&[S::Panic])], vec![Poll]);
    s.catch_panics = true;
    cases.push(("catch_panics", s.clone()));
    s.catch_panics = false;
    s.ops = vec![Poll, Poll];
    cases.push(("panic_unwinds", s));
    // A panicking Drop on the fail-fast path propagates; the rest still drop.
    let s = Script::new(
        vec![
            child_drop_panics(&[S::Slot(0)]),
            child(&[S::Slot(1)]),
            child(&[S::Err]),
        ],
        vec![Poll, Poll],
    );
    cases.push(("drop_panic_on_cut", s));
    // A semaphore of 1 shared by 3 children, with try_push refused.
    let mut s = Script::new(
        vec![child(&[S::Yield(2)]), child(&[S::Ok]), child(&[S::Ok])],
        vec![Poll, TryPush(1), Poll, Poll, Poll],
    );
    s.semaphore = Some(1);
    cases.push(("semaphore_1", s));
    // Another group holds every permit; giving one back must wake the group.
    let mut s = Script::new(
        vec![child(&[S::Yield(1)]), child(&[S::Ok]), child(&[S::Ok])],
        vec![
            Permit(true),
            Permit(true),
            Poll,
            Poll,
            Permit(false),
            Poll,
            Poll,
            Permit(false),
            Poll,
        ],
    );
    s.semaphore = Some(2);
    cases.push(("semaphore_held_outside", s));
    // Drain cut short by a second cancel.
    let mut s = Script::new(
        vec![child(&[S::Err]), child(&[S::AwaitToken, S::Slot(0)])],
        vec![Poll, HandleCancel, Poll],
    );
    s.drain = true;
    cases.push(("drain_cut_short", s));
    // An empty group resolves at once even with a pending trigger.
    let mut s = Script::new(vec![], vec![Poll]);
    s.trigger = true;
    cases.push(("empty_with_trigger", s));
    // Limit 5: the in-flight set outgrows its inline slots while children
    // queue, finish and refill, in a stream.
    let mut s = Script::new(
        (0..8u8)
            .map(|i| child(&[S::Yield(1 + i % 3), S::Ok]))
            .collect(),
        vec![Poll; 12],
    );
    s.limit = Some(5);
    s.mode = Mode::Stream;
    cases.push(("limit5_outgrows_inline_set", s));
    // A parent that already fired cancels at once.
    let mut s = Script::new(vec![child(&[S::Ok])], vec![Poll]);
    s.parent = Parent::Fired;
    cases.push(("parent_already_fired", s));
    cases
}

/// Regressions for [`KNOWN_BUG_FIFO_GROW`]: queued children (a semaphore
/// queues every start) polled out of order once the set outgrows 4 slots.
pub fn fifo_grow_cases() -> Vec<(&'static str, Script)> {
    use Op::*;
    vec![(
        "fifo_semaphore_5_grow",
        Script {
            mode: Mode::Stream,
            semaphore: Some(5),
            ..Script::new(
                vec![
                    child(&[Step::SelfWake]),
                    child(&[Step::Push(0)]),
                    child(&[]),
                    child(&[]),
                ],
                vec![Poll, HandlePush(0), Poll, Poll],
            )
        },
    )]
}

/// Regressions for [`KNOWN_BUG_DRAIN_INBOX`]: a handle push waits in the inbox
/// when an outside cancel stops a draining group. (With a trigger the SPEC does
/// not fix whether the group takes the inbox in before it looks at the
/// trigger, so the model accepts a drained handle push there.)
pub fn drain_inbox_cases() -> Vec<(&'static str, Script)> {
    use Op::*;
    let base = Script {
        drain: true,
        ..Script::new(
            vec![child(&[Step::Slot(0)])],
            vec![Poll, HandlePush(0), HandleCancel, Poll],
        )
    };
    vec![
        ("drain_handle_push_then_cancel", base.clone()),
        (
            "drain_handle_push_before_first_poll",
            Script {
                ops: vec![HandlePush(0), HandleCancel, Poll],
                mode: Mode::Settle,
                ..base
            },
        ),
    ]
}

/// Rule 12 regressions: an outside `Handle::cancel` that the group has not yet
/// looked at, followed by a push that reports success (see
/// `tests/model_prop.rs`).
pub fn rule12_cases() -> Vec<(&'static str, Script)> {
    use Op::*;
    vec![
        (
            "handle_push_after_handle_cancel",
            Script::new(
                vec![child(&[Step::Slot(0)])],
                vec![Poll, HandleCancel, HandlePush(0), Poll],
            ),
        ),
        (
            "push_after_handle_cancel_starts_in_drain",
            Script {
                drain: true,
                ..Script::new(
                    vec![child(&[Step::Slot(0)])],
                    vec![Poll, HandleCancel, Push(0), Poll],
                )
            },
        ),
        (
            "try_push_after_handle_cancel",
            Script::new(
                vec![child(&[Step::Slot(0)])],
                vec![Poll, HandleCancel, TryPush(0), Poll],
            ),
        ),
    ]
}
