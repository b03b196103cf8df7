//! Every child is dropped exactly once, on every exit path (SPEC "Quality
//! bars", rules 2 and 10): all `Ok`, first error, caught panic, uncaught
//! panic, outside cancel, group dropped before its first poll, group dropped
//! mid-flight; for ready, pending, queued, handle-pushed and lazily-fed
//! children. A panicking `Drop` in one child still drops all others once.
mod common;

use common::*;
use futures::executor::block_on;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use trygroup::{CancelReason, TryGroup};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Exit {
    AllOk,
    FirstError,
    CaughtPanic,
    UncaughtPanic,
    OutsideCancel,
    DroppedBeforeFirstPoll,
    DroppedMidFlight,
}

/// One tracker per kind of child, so a failure names the kind that leaked.
struct Kinds {
    ready: Arc<Tracker>,
    pending: Arc<Tracker>,
    queued: Arc<Tracker>,
    handle: Arc<Tracker>,
    lazy: Arc<Tracker>,
    source_dropped: Arc<AtomicUsize>,
}

impl Kinds {
    fn all(&self) -> [(&'static str, &Arc<Tracker>); 5] {
        [
            ("ready", &self.ready),
            ("pending", &self.pending),
            ("queued", &self.queued),
            ("handle-pushed", &self.handle),
            ("lazily-fed", &self.lazy),
        ]
    }

    fn assert_all_dropped(&self, exit: Exit, when: &str) {
        for (kind, tracker) in self.all() {
            assert_eq!(
                tracker.dropped(),
                tracker.created(),
                "{exit:?}: {kind} children not all dropped {when}"
            );
        }
    }
}

const LIMIT: usize = 8;

fn build(exit: Exit) -> (TryGroup<'static, usize, TestError>, Kinds) {
    let kinds = Kinds {
        ready: Tracker::new(),
        pending: Tracker::new(),
        queued: Tracker::new(),
        handle: Tracker::new(),
        lazy: Tracker::new(),
        source_dropped: Arc::new(AtomicUsize::new(0)),
    };
    let mut group = TryGroup::with_limit(LIMIT);
    if exit == Exit::CaughtPanic {
        group = group.catch_panics();
    }
    let handle = group.handle();
    let gate = Gate::new();

    // Child 0 decides the exit path.
    {
        let (gate, handle) = (gate.clone(), handle.clone());
        group.push(kinds.pending.track(0, async move {
            yield_times(3).await;
            match exit {
                Exit::AllOk => {
                    gate.open();
                    Ok(0)
                }
                Exit::FirstError => Err(TestError::Child(0)),
                Exit::CaughtPanic | Exit::UncaughtPanic => panic!("exit child panics"),
                Exit::OutsideCancel => {
                    handle.cancel();
                    futures::future::pending().await
                }
                Exit::DroppedBeforeFirstPoll | Exit::DroppedMidFlight => {
                    futures::future::pending().await
                }
            }
        }));
    }
    // Child 1 pushes children through the handle while it runs.
    {
        let (handle, tracker) = (handle.clone(), kinds.handle.clone());
        group.push(kinds.ready.track(1, async move {
            for i in 0..3 {
                let _ = handle.push(tracker.track(100 + i, async move {
                    yield_now().await;
                    Ok(100 + i)
                }));
            }
            Ok(1)
        }));
    }
    for i in 2..4 {
        group.push(kinds.ready.track(i, async move { Ok(i) }));
    }
    for i in 4..7 {
        let gate = gate.clone();
        group.push(kinds.pending.track(i, async move {
            gate.wait().await;
            Ok(i)
        }));
    }
    // Beyond the limit: these wait in the queue.
    for i in 7..20 {
        let gate = gate.clone();
        group.push(kinds.queued.track(i, async move {
            yield_now().await;
            gate.wait().await;
            Ok(i)
        }));
    }
    // Handle pushes before the first poll: they sit in the inbox.
    for i in 200..203 {
        handle
            .push(kinds.handle.track(i, async move { Ok(i) }))
            .unwrap();
    }
    // A lazy source; its closure owns a guard that counts the source's drop.
    {
        let guard = DropCount(kinds.source_dropped.clone());
        let (tracker, gate) = (kinds.lazy.clone(), gate.clone());
        group.feed((300..340).map(move |i| {
            let _ = &guard;
            let gate = gate.clone();
            tracker.track(i, async move {
                gate.wait().await;
                Ok(i)
            })
        }));
    }
    (group, kinds)
}

fn run(exit: Exit) {
    let (mut group, kinds) = build(exit);
    let token = group.token();
    match exit {
        Exit::AllOk => {
            let out = block_on(&mut group).unwrap();
            let total: usize = kinds.all().iter().map(|(_, t)| t.created()).sum();
            assert_eq!(out.len(), total, "every child ran");
            assert_eq!(kinds.lazy.created(), 40);
            kinds.assert_all_dropped(exit, "before the group returned");
            assert_eq!(token.reason(), Some(CancelReason::Finished));
        }
        Exit::FirstError => {
            let err = block_on(&mut group).unwrap_err();
            assert_eq!(err.child(), Some(0));
            kinds.assert_all_dropped(exit, "before the group returned");
            assert_eq!(kinds.source_dropped.load(SeqCst), 1, "source dropped");
        }
        Exit::CaughtPanic => {
            let err = block_on(&mut group).unwrap_err();
            assert_eq!(err.panicked().map(|p| p.index()), Some(0));
            kinds.assert_all_dropped(exit, "before the group returned");
            assert_eq!(kinds.source_dropped.load(SeqCst), 1, "source dropped");
        }
        Exit::UncaughtPanic => {
            let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
            assert_eq!(msg, "exit child panics");
            kinds.assert_all_dropped(exit, "when the panic left the group");
            assert_eq!(kinds.source_dropped.load(SeqCst), 1, "source dropped");
        }
        Exit::OutsideCancel => {
            let err = block_on(&mut group).unwrap_err();
            assert_eq!(err.cancelled(), Some(CancelReason::Cancelled));
            kinds.assert_all_dropped(exit, "before the group returned");
            assert_eq!(kinds.source_dropped.load(SeqCst), 1, "source dropped");
        }
        Exit::DroppedBeforeFirstPoll => {
            drop(group);
            for (kind, t) in kinds.all() {
                assert_eq!(t.started(), 0, "{kind} child started without a poll");
            }
            kinds.assert_all_dropped(exit, "after the drop");
            assert_eq!(kinds.source_dropped.load(SeqCst), 1, "source dropped");
            assert_eq!(token.reason(), Some(CancelReason::Dropped));
            return;
        }
        Exit::DroppedMidFlight => {
            for _ in 0..5 {
                assert!(poll_once(&mut group).is_pending());
            }
            assert!(kinds.pending.started() > 0 && kinds.queued.started() > 0);
            assert!(kinds.queued.created() > kinds.queued.started());
            drop(group);
            kinds.assert_all_dropped(exit, "after the drop");
            assert_eq!(kinds.source_dropped.load(SeqCst), 1, "source dropped");
            assert_eq!(token.reason(), Some(CancelReason::Dropped));
            return;
        }
    }
    drop(group);
    kinds.assert_all_dropped(exit, "after the group was dropped");
    assert_eq!(kinds.source_dropped.load(SeqCst), 1);
}

#[test]
fn all_ok() {
    run(Exit::AllOk);
}

#[test]
fn first_error() {
    run(Exit::FirstError);
}

#[test]
fn caught_panic() {
    run(Exit::CaughtPanic);
}

#[test]
fn uncaught_panic() {
    run(Exit::UncaughtPanic);
}

#[test]
fn outside_cancel() {
    run(Exit::OutsideCancel);
}

#[test]
fn dropped_before_first_poll() {
    run(Exit::DroppedBeforeFirstPoll);
}

#[test]
fn dropped_mid_flight() {
    run(Exit::DroppedMidFlight);
}

#[test]
fn settle_and_stream_drop_every_child_once() {
    use futures::StreamExt;
    let (group, kinds) = build(Exit::AllOk);
    let out = block_on(group.settle());
    assert!(out.iter().all(Result::is_ok));
    kinds.assert_all_dropped(Exit::AllOk, "after settle");
    assert_eq!(kinds.source_dropped.load(SeqCst), 1);

    // settle on an outside cancel: unfinished children are dropped.
    let (group, kinds) = build(Exit::OutsideCancel);
    let out = block_on(group.settle());
    assert!(out.iter().any(|r| r
        .as_ref()
        .is_err_and(|e| e.cancelled() == Some(CancelReason::Cancelled))));
    kinds.assert_all_dropped(Exit::OutsideCancel, "after settle");
    assert_eq!(kinds.source_dropped.load(SeqCst), 1);

    let (group, kinds) = build(Exit::FirstError);
    let items: Vec<_> = block_on(group.into_stream().collect::<Vec<_>>());
    assert!(items.last().unwrap().as_ref().is_err());
    kinds.assert_all_dropped(Exit::FirstError, "after into_stream");
    assert_eq!(kinds.source_dropped.load(SeqCst), 1);
}

// ---- a panicking Drop ----------------------------------------------------

/// A pending child whose Drop panics.
fn bomb() -> impl std::future::Future<Output = Result<usize, TestError>> + Send + 'static {
    let guard = PanicOnDrop("drop boom");
    async move {
        let _guard = guard;
        futures::future::pending().await
    }
}

fn pending_children(group: &mut TryGroup<'static, usize, TestError>, t: &Arc<Tracker>, n: usize) {
    for i in 0..n {
        group.push(t.track(i, futures::future::pending()));
    }
}

#[test]
fn panicking_drop_when_dropped_mid_flight() {
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    pending_children(&mut group, &tracker, 5);
    group.push(bomb());
    pending_children(&mut group, &tracker, 5);
    assert!(poll_once(&mut group).is_pending());
    let msg = catch_panic(move || drop(group)).unwrap_err();
    assert_eq!(msg, "drop boom");
    tracker.assert_all_dropped();
}

#[test]
fn panicking_drop_when_dropped_before_the_first_poll() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(3);
    pending_children(&mut group, &tracker, 4);
    group.push(bomb()); // queued
    pending_children(&mut group, &tracker, 4);
    group.handle().push(bomb()).unwrap(); // in the inbox
    let msg = catch_panic(move || drop(group)).unwrap_err();
    assert_eq!(msg, "drop boom", "the first panic propagates, no abort");
    tracker.assert_all_dropped();
}

#[test]
fn panicking_drop_of_a_sibling_on_the_error_path() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(8);
    pending_children(&mut group, &tracker, 3);
    group.push(bomb()); // in flight
    group.push(async {
        yield_now().await;
        Err(TestError::Child(4))
    });
    pending_children(&mut group, &tracker, 6); // some queued
    let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
    assert_eq!(msg, "drop boom");
    tracker.assert_all_dropped();
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn panicking_drop_of_a_queued_child_on_the_error_path() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(2);
    group.push(async {
        yield_now().await;
        Err(TestError::Child(0))
    });
    pending_children(&mut group, &tracker, 3);
    group.push(bomb()); // queued, never started
    pending_children(&mut group, &tracker, 3);
    let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
    assert_eq!(msg, "drop boom");
    tracker.assert_all_dropped();
}

#[test]
fn panicking_drop_of_a_child_that_completed() {
    // The child is dropped when it finishes; its Drop panics inside the
    // group's poll, and the rest must still be dropped exactly once.
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    pending_children(&mut group, &tracker, 3);
    group.push(async {
        let _guard = PanicOnDrop("done drop boom");
        yield_now().await;
        Ok(9)
    });
    pending_children(&mut group, &tracker, 3);
    let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
    assert_eq!(msg, "done drop boom");
    tracker.assert_all_dropped();
}

/// A child that is ready at once and whose own `Drop` panics, after it
/// returned its value.
struct ReadyThenPanicOnDrop;

impl std::future::Future for ReadyThenPanicOnDrop {
    type Output = Result<usize, TestError>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(7))
    }
}

impl Drop for ReadyThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("finished drop boom");
    }
}

#[test]
fn panicking_drop_of_a_finished_child_inline_and_in_the_set() {
    // 1 + 2 children stay in the inline slots; 4 + 5 go into the set.
    for before in [1, 4] {
        let tracker = Tracker::new();
        let mut group = TryGroup::new();
        pending_children(&mut group, &tracker, before);
        group.push(ReadyThenPanicOnDrop);
        pending_children(&mut group, &tracker, before + 1);
        let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
        assert_eq!(msg, "finished drop boom", "{before} before");
        tracker.assert_all_dropped();
        assert!(
            futures::future::FusedFuture::is_terminated(&group),
            "{before} before"
        );
    }
}

/// Finishes at its first poll with `how` (a value, or a panic whose payload
/// is `how` itself), then panics in its own `Drop`.
struct FinishThenPanicOnDrop(Option<(bool, DropCount)>);

impl std::future::Future for FinishThenPanicOnDrop {
    type Output = Result<DropCount, TestError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let (panics, guard) = self.0.take().expect("polled once");
        if panics {
            std::panic::panic_any(guard);
        }
        std::task::Poll::Ready(Ok(guard))
    }
}

impl Drop for FinishThenPanicOnDrop {
    fn drop(&mut self) {
        panic!("finished drop boom");
    }
}

#[test]
fn the_outcome_of_a_child_whose_drop_panics_is_not_leaked() {
    // The child's value (or its panic payload) is in hand when the child's
    // `Drop` panics: it must be dropped while that panic unwinds, not lost.
    // Rust leaks a function's return value if a local's `Drop` panics after
    // it was written (rust-lang/rust#47949), so the child must be dropped
    // before its outcome is handed on. Inline slots and the set both.
    for (before, panics) in [(1, false), (1, true), (4, false), (4, true)] {
        let outcomes = Arc::new(AtomicUsize::new(0));
        let tracker = Tracker::new();
        let mut group: TryGroup<'static, DropCount, TestError> = TryGroup::new();
        for i in 0..before {
            group.push(tracker.track(i, futures::future::pending()));
        }
        group.push(FinishThenPanicOnDrop(Some((
            panics,
            DropCount(outcomes.clone()),
        ))));
        let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
        assert_eq!(
            msg, "finished drop boom",
            "{before} before, panics: {panics}"
        );
        assert_eq!(
            outcomes.load(SeqCst),
            1,
            "{before} before, panics: {panics}"
        );
        tracker.assert_all_dropped();
    }
}

#[test]
fn two_panicking_drops_do_not_abort() {
    // 3 children around each bomb put all 8 in a FuturesUnordered; 1 keeps
    // all 4 in the inline slots. The teardown walk resumes after each
    // panicking drop and must still drop every other child exactly once.
    for around in [3, 1] {
        let tracker = Tracker::new();
        let mut group = TryGroup::new();
        group.push(bomb());
        pending_children(&mut group, &tracker, around);
        group.push(bomb());
        pending_children(&mut group, &tracker, around);
        assert!(poll_once(&mut group).is_pending());
        let msg = catch_panic(move || drop(group)).unwrap_err();
        assert_eq!(msg, "drop boom");
        tracker.assert_all_dropped();
    }
}

#[test]
fn panicking_drops_on_the_error_path_of_settle_report_every_child() {
    // `settle` lists the children cut short; a panicking drop among them
    // must neither lose nor repeat an entry, nor drop a child twice.
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    pending_children(&mut group, &tracker, 2);
    group.push(bomb());
    pending_children(&mut group, &tracker, 2);
    let handle = group.handle();
    let mut settle = Box::pin(group.settle());
    assert!(poll_once(&mut settle).is_pending());
    handle.cancel();
    let msg = catch_panic(|| block_on(&mut settle)).unwrap_err();
    assert_eq!(msg, "drop boom");
    tracker.assert_all_dropped();
    drop(settle);
    tracker.assert_all_dropped();
}

#[test]
fn panicking_drop_of_a_lazily_fed_child() {
    let tracker = Tracker::new();
    let mut group = TryGroup::with_limit(4);
    let t = tracker.clone();
    group.feed(
        (0..10).map(move |i| -> futures::future::BoxFuture<'static, _> {
            if i == 2 {
                Box::pin(bomb())
            } else {
                Box::pin(t.track(i, futures::future::pending()))
            }
        }),
    );
    assert!(poll_once(&mut group).is_pending());
    let msg = catch_panic(move || drop(group)).unwrap_err();
    assert_eq!(msg, "drop boom");
    tracker.assert_all_dropped();
}

#[test]
fn a_panicking_drop_during_an_uncaught_child_panic_does_not_abort() {
    // The child's panic is already unwinding through the group's poll when
    // the siblings are dropped; a second panic there must not abort, and the
    // child's original payload is what comes out.
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    pending_children(&mut group, &tracker, 3);
    group.push(bomb());
    group.push(async {
        yield_now().await;
        panic!("child panic first")
    });
    pending_children(&mut group, &tracker, 3);
    let msg = catch_panic(|| block_on(&mut group)).unwrap_err();
    assert_eq!(msg, "child panic first");
    tracker.assert_all_dropped();
}

#[test]
fn a_group_dropped_while_unwinding_drops_every_child_once() {
    let tracker = Tracker::new();
    let mut group = TryGroup::new();
    pending_children(&mut group, &tracker, 3);
    group.push(bomb());
    pending_children(&mut group, &tracker, 3);
    assert!(poll_once(&mut group).is_pending());
    let msg = catch_panic(move || {
        let _group = group;
        panic!("outer panic");
    })
    .unwrap_err();
    assert_eq!(msg, "outer panic");
    tracker.assert_all_dropped();
}

/// Runs `f` on a thread and fails (instead of hanging) if it does not end.
fn no_deadlock(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(20)) {
        Ok(()) => worker.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its message.
            if let Err(p) = worker.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(e) => panic!("deadlock: {e:?}"),
    }
}

/// Pushes into (and cancels) its own group from its `Drop`.
struct ReenterOnDrop {
    handle: trygroup::Handle<'static, usize, TestError>,
    pushed_back: Arc<AtomicUsize>,
}

impl Drop for ReenterOnDrop {
    fn drop(&mut self) {
        if self.handle.push(async { Ok(0) }).is_err() {
            self.pushed_back.fetch_add(1, SeqCst);
        }
        self.handle.cancel();
        let _ = self.handle.is_closed();
    }
}

#[test]
fn a_child_reentering_its_group_from_drop_does_not_deadlock() {
    no_deadlock(|| {
        for path in 0..3 {
            let back = Arc::new(AtomicUsize::new(0));
            let mut group = TryGroup::<usize, TestError>::with_limit(3);
            let token = group.token();
            let handle = group.handle();
            let guard = |handle: &trygroup::Handle<'static, usize, TestError>| ReenterOnDrop {
                handle: handle.clone(),
                pushed_back: back.clone(),
            };
            // Two in flight for ever, one that fails (on path 1 only), one
            // queued behind them, one in the inbox.
            for _ in 0..2 {
                let g = guard(&handle);
                group.push(async move {
                    let _guard = g;
                    futures::future::pending().await
                });
            }
            group.push(async move {
                yield_times(if path == 1 { 1 } else { 1000 }).await;
                Err(TestError::Child(2))
            });
            let g = guard(&handle);
            group.push(async move {
                let _guard = g;
                Ok(1)
            });
            let g = guard(&handle);
            handle
                .push(async move {
                    let _guard = g;
                    Ok(2)
                })
                .unwrap();
            match path {
                0 => drop(group),
                1 => {
                    let err = block_on(&mut group).unwrap_err();
                    assert_eq!(err.child(), Some(2), "the first reason stays");
                    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 2 }));
                }
                _ => {
                    assert!(poll_once(&mut group).is_pending());
                    drop(group);
                    assert_eq!(token.reason(), Some(CancelReason::Dropped));
                }
            }
            // Every guard was dropped once, each push from a Drop came back.
            assert_eq!(back.load(SeqCst), 4, "path {path}");
        }
    });
}
