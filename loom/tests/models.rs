//! loom models of the paths where threads meet: the token, the handle inbox
//! and the group's waker. Run with `.ci/loom` (RUSTFLAGS="--cfg loom").
//!
//! Each model runs every interleaving (up to `LOOM_MAX_PREEMPTIONS`) of a
//! group awaited with `loom::future::block_on` on the main thread against
//! other threads using its handle or token. A lost wake-up shows up as a loom
//! deadlock; a wrong answer as a failed assertion.

use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

use trygroup::{CancelReason, Cancelled, TryGroup};

#[derive(Debug, PartialEq)]
enum Error {
    Child,
    Cancelled(CancelReason),
}

impl From<Cancelled> for Error {
    fn from(c: Cancelled) -> Self {
        Error::Cancelled(c.reason())
    }
}

/// Runs `f` under loom and checks it really explored several interleavings
/// (a model that runs once proves nothing); prints the count for TESTING.md.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    static RUNS: StdAtomicUsize = StdAtomicUsize::new(0);
    let before = RUNS.load(SeqCst);
    loom::model(move || {
        RUNS.fetch_add(1, SeqCst);
        f()
    });
    let runs = RUNS.load(SeqCst) - before;
    println!("loom model {name}: {runs} interleavings");
    assert!(runs > 1, "{name}: loom explored only {runs} interleaving");
}

/// `Handle::cancel` on one thread, `cancelled().await` on another, the group
/// awaited on a third: every one of them sees the cancel, nobody hangs.
#[test]
fn cancel_vs_cancelled_vs_group_waker() {
    model("cancel_vs_cancelled_vs_group_waker", || {
        let mut group = TryGroup::<(), Error>::new();
        group.push(futures_util::future::pending());
        let handle = group.handle();
        let token = group.token();

        let waiter = thread::spawn(move || {
            loom::future::block_on(token.cancelled());
            token.reason()
        });
        let canceller = thread::spawn(move || handle.cancel());

        let out = loom::future::block_on(group);
        canceller.join().unwrap();
        assert_eq!(out, Err(Error::Cancelled(CancelReason::Cancelled)));
        assert_eq!(waiter.join().unwrap(), Some(CancelReason::Cancelled));
    });
}

/// A handle push racing the group's finish either runs (and is in the
/// output) or comes back: never both, never neither.
#[test]
fn handle_push_vs_finish() {
    model("handle_push_vs_finish", || {
        let mut group = TryGroup::<usize, Error>::new();
        group.push(async { Ok(0) });
        let handle = group.handle();
        let ran = Arc::new(AtomicUsize::new(0));

        let ran2 = ran.clone();
        let pusher = thread::spawn(move || {
            handle
                .push(async move {
                    ran2.fetch_add(1, SeqCst);
                    Ok(1)
                })
                .is_ok()
        });

        let out = loom::future::block_on(group).unwrap();
        let accepted = pusher.join().unwrap();
        assert_eq!(ran.load(SeqCst), accepted as usize);
        assert_eq!(out, if accepted { vec![0, 1] } else { vec![0] });
    });
}

/// A child error and a `Handle::cancel` from another thread race for the
/// first reason: exactly one wins, and the output agrees with the token.
#[test]
fn concurrent_first_reasons_agree() {
    model("concurrent_first_reasons_agree", || {
        let mut group = TryGroup::<(), Error>::new();
        group.push(async { Err(Error::Child) });
        let handle = group.handle();
        let token = group.token();

        let canceller = thread::spawn(move || handle.cancel());
        let out = loom::future::block_on(group);
        canceller.join().unwrap();

        match token.reason() {
            Some(CancelReason::Failed { index: 0 }) => assert_eq!(out, Err(Error::Child)),
            Some(CancelReason::Cancelled) => {
                assert_eq!(out, Err(Error::Cancelled(CancelReason::Cancelled)))
            }
            other => panic!("unexpected first reason {other:?} with output {out:?}"),
        }
    });
}

/// `wait_blocking` on a plain thread returns once the group finishes.
#[test]
fn wait_blocking_vs_finish() {
    model("wait_blocking_vs_finish", || {
        let mut group = TryGroup::<(), Error>::new();
        group.push(async { Ok(()) });
        let token = group.token();
        let watcher = thread::spawn(move || {
            token.wait_blocking();
            token.reason()
        });
        assert_eq!(loom::future::block_on(group), Ok(vec![()]));
        assert_eq!(watcher.join().unwrap(), Some(CancelReason::Finished));
    });
}
