//! Panics (SPEC rules 5, 7, 10): without `catch_panics` a child's panic
//! resumes with its original payload after the token fires and every sibling
//! is dropped; with it the panic becomes `Err(E::from(Panicked))`.
mod common;

use common::*;
use futures::executor::block_on;
use futures::future::FusedFuture;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use trygroup::{CancelReason, Panicked, TryGroup};

#[test]
fn uncaught_panic_resumes_with_the_original_payload() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), ()>::with_limit(3);
    let token = group.token();
    let handle = group.handle();
    group.push(tracker.track(0, futures::future::pending()));
    group.push(tracker.track(1, async {
        yield_now().await;
        std::panic::panic_any(MyPayload(7))
    }));
    group.push(tracker.track(2, async {
        yield_times(10).await;
        Ok(())
    }));
    for i in 3..6 {
        group.push(tracker.track(i, async { Ok(()) })); // queued
    }
    handle.push(tracker.track(6, async { Ok(()) })).unwrap();

    let payload = unwind_of(|| block_on(&mut group));
    assert_eq!(payload.downcast_ref::<MyPayload>(), Some(&MyPayload(7)));
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 1 }));
    // Every other child is gone already, before the group itself is dropped.
    assert_eq!(tracker.dropped(), tracker.created());
    assert_eq!(tracker.started(), 3, "queued children never start");
    assert!(
        handle.push(async { Ok(()) }).is_err(),
        "closed after the unwind"
    );
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn a_group_whose_poll_unwound_is_finished() {
    // Rule 7: polling it again panics with a clear message; dropping it is fine.
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), ()>::new();
    group.push(tracker.track(0, futures::future::pending()));
    group.push(tracker.track(1, async { panic!("child boom") }));
    let payload = unwind_of(|| poll_once(&mut group));
    assert_eq!(panic_message(&*payload), "child boom");
    assert!(group.is_terminated());
    let msg = catch_panic(|| poll_once(&mut group)).unwrap_err();
    assert!(!msg.contains("child boom"), "a new, clear message: {msg:?}");
    assert!(
        msg.to_lowercase().contains("poll"),
        "clear message: {msg:?}"
    );
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn caught_panic_becomes_the_childs_error() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<u8, TestError>::with_limit(2).catch_panics();
    let token = group.token();
    group.push(tracker.track(0, futures::future::pending()));
    group.push(tracker.track(1, async {
        yield_now().await;
        panic!("bad input {}", 42)
    }));
    for i in 2..5 {
        group.push(tracker.track(i, async { Ok(1) }));
    }
    let err = block_on(&mut group).unwrap_err();
    let p = err.panicked().expect("a Panicked error");
    assert_eq!(p.index(), 1);
    assert_eq!(p.message(), Some("bad input 42"));
    assert_eq!(p.to_string(), "child 1 panicked: bad input 42");
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 1 }));
    assert_eq!(
        tracker.dropped(),
        5,
        "siblings dropped before the group returned"
    );
    assert_eq!(tracker.started(), 2);
}

#[test]
fn panicked_keeps_the_payload_and_message_kinds() {
    let run = |make: fn() -> ()| {
        let mut group = TryGroup::<(), Panicked>::new().catch_panics();
        group.push(async move {
            make();
            Ok(())
        });
        block_on(group).unwrap_err()
    };
    let p = run(|| panic!("static str"));
    assert_eq!(p.message(), Some("static str"));
    assert_eq!(p.index(), 0);

    let p = run(|| std::panic::panic_any(MyPayload(3)));
    assert_eq!(p.message(), None);
    assert_eq!(p.to_string(), "child 0 panicked");
    let payload = p.into_payload();
    assert_eq!(payload.downcast_ref::<MyPayload>(), Some(&MyPayload(3)));

    // The payload can be resumed as the original panic.
    let p = run(|| std::panic::panic_any(MyPayload(4)));
    let again = unwind_of(|| resume_unwind(p.into_payload()));
    assert_eq!(again.downcast_ref::<MyPayload>(), Some(&MyPayload(4)));
}

#[test]
fn panicked_converts_into_anyhow() {
    let mut group = TryGroup::<(), anyhow::Error>::new().catch_panics();
    group.push(async { panic!("into anyhow") });
    let err = block_on(group).unwrap_err();
    assert_eq!(err.to_string(), "child 0 panicked: into anyhow");
    let p = err.downcast::<Panicked>().expect("the Panicked is inside");
    assert_eq!(p.index(), 0);
}

#[test]
fn an_error_before_a_panic_wins() {
    let reached = Arc::new(AtomicBool::new(false));
    let r = reached.clone();
    let mut group = TryGroup::<(), TestError>::new().catch_panics();
    let token = group.token();
    group.push(async {
        yield_now().await;
        Err(TestError::Child(0))
    });
    group.push(async move {
        yield_times(3).await;
        r.store(true, SeqCst);
        panic!("never reached")
    });
    assert_eq!(block_on(group).unwrap_err().child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
    assert!(!reached.load(SeqCst));
}

#[test]
fn a_panic_before_an_error_wins() {
    let mut group = TryGroup::<(), TestError>::new().catch_panics();
    let token = group.token();
    group.push(async {
        yield_times(3).await;
        Err(TestError::Child(0))
    });
    group.push(async {
        yield_now().await;
        panic!("first")
    });
    let err = block_on(group).unwrap_err();
    assert_eq!(err.panicked().map(Panicked::index), Some(1));
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 1 }));
}

#[test]
fn caught_panic_with_drain_on_error_drains_the_siblings() {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let mut group = TryGroup::<(), TestError>::new()
        .catch_panics()
        .drain_on_error();
    group.push_with(move |token| async move {
        token.cancelled().await;
        assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 1 }));
        c.store(true, SeqCst);
        Ok(())
    });
    group.push(async { panic!("drain me") });
    let err = block_on(group).unwrap_err();
    assert_eq!(err.panicked().map(Panicked::index), Some(1));
    assert!(cleaned.load(SeqCst), "the sibling ran to its end");
}

#[test]
fn a_panicking_cancel_on_trigger_propagates_and_drops_every_child_once() {
    // Rule 10: catch_panics covers children only; a trigger's panic propagates.
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::with_limit(2)
        .catch_panics()
        .cancel_on(async {
            yield_times(2).await;
            panic!("trigger boom")
        });
    for i in 0..5 {
        group.push(tracker.track(i, futures::future::pending()));
    }
    let payload = unwind_of(|| block_on(&mut group));
    assert_eq!(panic_message(&*payload), "trigger boom");
    assert_eq!(tracker.dropped(), 5);
    assert!(group.is_terminated());
    drop(group);
    tracker.assert_all_dropped();
}

#[test]
fn panic_inside_a_spawned_group_reaches_the_join_handle_intact() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let join = rt.spawn(async {
        let mut group = TryGroup::<(), ()>::new();
        group.push(async {
            tokio::task::yield_now().await;
            std::panic::panic_any(MyPayload(11))
        });
        group.push(futures::future::pending());
        group.await
    });
    let err = rt.block_on(join).unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<MyPayload>(), Some(&MyPayload(11)));
}

#[test]
fn a_panic_during_the_first_poll_of_an_empty_looking_group_is_not_lost() {
    // A child pushed through a handle before the first poll is run (rule 13),
    // so its panic must surface.
    let group = TryGroup::<(), ()>::new();
    let handle = group.handle();
    let token = group.token();
    handle.push(async { panic!("handle child") }).unwrap();
    let mut group = group;
    let payload = unwind_of(|| poll_once(&mut group));
    assert_eq!(panic_message(&*payload), "handle child");
    assert_eq!(token.reason(), Some(CancelReason::Panicked { index: 0 }));
    assert!(group.is_terminated());
}

#[test]
fn an_uncaught_panic_during_a_drain_unwinds_but_keeps_the_first_reason() {
    let tracker = Tracker::new();
    let mut group = TryGroup::<(), TestError>::new().drain_on_error();
    let token = group.token();
    group.push(tracker.track(0, async { Err(TestError::Child(0)) }));
    group.push_with(|token| async move {
        token.cancelled().await;
        std::panic::panic_any(MyPayload(5))
    });
    group.push(tracker.track(2, futures::future::pending()));
    let payload = unwind_of(|| block_on(&mut group));
    assert_eq!(payload.downcast_ref::<MyPayload>(), Some(&MyPayload(5)));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
    assert_eq!(tracker.dropped(), 2);
    assert!(group.is_terminated());
}

#[test]
fn a_caught_panic_during_a_drain_is_dropped_like_a_later_error() {
    let mut group = TryGroup::<(), TestError>::new()
        .drain_on_error()
        .catch_panics();
    let token = group.token();
    group.push(async { Err(TestError::Child(0)) });
    group.push_with(|token| async move {
        token.cancelled().await;
        panic!("later panic")
    });
    assert_eq!(block_on(group).unwrap_err().child(), Some(0));
    assert_eq!(token.reason(), Some(CancelReason::Failed { index: 0 }));
}

#[test]
fn error_types_display_lowercase_without_a_trailing_period() {
    let mut group = TryGroup::<(), Panicked>::new().catch_panics();
    group.push(async { std::panic::panic_any(1u8) });
    let p = block_on(group).unwrap_err();
    let msg = p.to_string();
    assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg:?}");
    assert!(!msg.ends_with('.'), "{msg:?}");
    let _: &dyn std::error::Error = &p;
}
