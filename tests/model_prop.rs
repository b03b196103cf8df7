//! The scripted model (`tests/model/mod.rs`) under proptest, plus the fixed
//! tricky cases. The same interpreter backs the `cancel_order` fuzz target.
//!
//! `PROPTEST_CASES=N` changes the number of random scripts (default 256; 2
//! under Miri).
//! `TRYGROUP_WRITE_SEEDS=DIR` also writes each fixed case's bytes to `DIR`
//! (how `fuzz/seeds/` was made).

mod common;
mod model;
#[path = "model/strategy.rs"]
mod strategy;

use common::proptest_config;
use model::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(proptest_config())]

    /// Every invariant of the model holds for random scripts.
    /// (Strict: no crate bug is open. While one is, use `run_tolerant` here
    /// and in the fuzz target, and hold the bug with a regression test.)
    #[test]
    fn random_scripts_keep_every_invariant(script in strategy::script()) {
        if let Err(e) = run(&script) {
            prop_assert!(false, "{}", e);
        }
    }

    /// The hand-written byte format round-trips, so the fuzz seeds mean what
    /// their names say.
    #[test]
    fn script_bytes_round_trip(script in strategy::script()) {
        let bytes = script.encode();
        let back = Script::decode(&mut arbitrary::Unstructured::new(&bytes));
        prop_assert_eq!(back, script.normalized());
    }
}

#[test]
fn tricky_cases_keep_every_invariant() {
    let dir = std::env::var_os("TRYGROUP_WRITE_SEEDS");
    let mut failures = Vec::new();
    // Miri is ~1000x slower: every other case there.
    let step = if cfg!(miri) { 2 } else { 1 };
    for (name, script) in tricky_cases().into_iter().step_by(step) {
        let bytes = script.encode();
        let back = Script::decode(&mut arbitrary::Unstructured::new(&bytes));
        assert_eq!(
            back,
            script.clone().normalized(),
            "{name}: bytes round trip"
        );
        if let Some(dir) = &dir {
            std::fs::write(std::path::Path::new(dir).join(name), &bytes).unwrap();
        }
        if let Err(e) = run(&script) {
            failures.push(format!("{name}: {e}"));
        }
    }
    if let Some(dir) = &dir {
        // The regression scripts too: `run` tolerates their known bugs.
        for (name, script) in rule12_cases()
            .into_iter()
            .chain(drain_inbox_cases())
            .chain(fifo_grow_cases())
        {
            std::fs::write(std::path::Path::new(dir).join(name), script.encode()).unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The model itself must notice broken behaviour: feed it a script whose
/// outcome is fixed and check the figures it reports.
#[test]
fn the_model_sees_what_happens() {
    use Op::*;
    let stats = run(&Script::new(
        vec![child(&[Step::Ok]), child(&[Step::Yield(2), Step::Err])],
        vec![Poll, Poll, Poll],
    ))
    .unwrap();
    assert!(
        stats.finished && stats.failed && !stats.unwound,
        "{stats:?}"
    );
    assert_eq!(stats.children, 3, "two templates and the end-of-run push");

    let stats = run(&Script::new(vec![child(&[Step::Panic])], vec![Poll])).unwrap();
    assert!(
        stats.unwound,
        "a panic without catch_panics unwinds: {stats:?}"
    );
}

/// Regression (crate bug found by the model, SPEC rules 6 and 12; fixed in
/// `b441af1`): `Handle::cancel()` fires the token at once, but the group only
/// noticed at its next poll. In that window `Handle::push` and `try_push`
/// still returned `Ok` — the inbox was only closed, and `Core::open()` only
/// turned false, when the group itself stopped — and the child was then
/// dropped unpolled at that poll: the caller was told it was accepted, yet it
/// neither ran nor came back. Under `drain_on_error` a direct `push` in that
/// window was even started. Rule 12: once the group has been cancelled,
/// `try_push` and `Handle::push` give the future back.
#[test]
fn regression_push_after_handle_cancel_is_given_back() {
    let mut failures = Vec::new();
    for (name, script) in rule12_cases() {
        if let Err(e) = run(&script) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Regression (crate bug found by the model, SPEC rule 12 and the definition
/// of "queued"; fixed in `6fa73ab`): when a `drain_on_error` group stopped,
/// `Core::stop` took the inbox in through `accept()`, which put handle-pushed
/// children straight in flight when a slot was free, so the drain started
/// them although they were still queued (not taken in) when the group
/// stopped. Nothing new may start while draining. Scripts:
/// `drain_inbox_cases`.
#[test]
fn regression_drain_does_not_start_handle_pushes_made_before_the_stop() {
    let mut failures = Vec::new();
    for (name, script) in drain_inbox_cases() {
        if let Err(e) = run(&script) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The same bug through the API alone: a child pushes a sibling through a
/// handle and fails in the same poll; the sibling is still in the inbox when
/// the group stops, so a draining group must drop it unpolled.
#[test]
fn regression_drain_does_not_start_a_sibling_pushed_in_the_failing_poll() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use trygroup::TryGroup;
    static STARTED: AtomicBool = AtomicBool::new(false);
    let mut group = TryGroup::<u8, &str>::new().drain_on_error();
    let handle = group.handle();
    group.push(async move {
        handle
            .push(async {
                STARTED.store(true, SeqCst);
                Ok(1)
            })
            .unwrap();
        Err("first")
    });
    assert_eq!(futures::executor::block_on(group), Err("first"));
    assert!(
        !STARTED.load(SeqCst),
        "a child queued in the inbox when the group failed was started by the drain"
    );
}

/// Regression (crate bug found by the model, SPEC: `push` "starts (is
/// polled) ... else waits FIFO in the queue", and "queued children start
/// FIFO"; fixed in `395a31d`): the inline in-flight set
/// (`src/core/running.rs`) grew into a `FuturesUnordered` by moving its slots
/// in slot order rather than push-index order. With a shared semaphore every
/// start goes through the queue; a freed low slot refilled by a later child,
/// then a fifth child, made the later child poll first while earlier queued
/// children that had already left the queue were still unpolled.
#[test]
fn regression_queued_children_start_fifo_when_the_set_grows() {
    let mut failures = Vec::new();
    for (name, script) in fifo_grow_cases() {
        if let Err(e) = run(&script) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
