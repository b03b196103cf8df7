//! Plain OS threads doing blocking work, in a group, watching its token.
//!
//! ```text
//! cargo run --example threads
//! ```
//!
//! No async runtime at all: `futures::executor::block_on` awaits the group.
//! Each "disk scrubber" runs on its own thread (blocking reads, simulated by
//! `thread::sleep`) and reports through a oneshot channel, whose receiver is
//! the group's child. Dropping a child cannot stop a thread, so the threads
//! watch the group's [`CancelToken`]:
//!
//! * between two blocking steps, `token.is_cancelled()` (one atomic load);
//! * a thread with nothing else to do parks in `token.wait_blocking()` until
//!   the token fires: here a watcher that logs why the group stopped.
//!
//! `std::thread::scope` joins every thread before `main` returns, so none
//! outlives the program's bookkeeping (and they may borrow its locals).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use trygroup::{CancelReason, CancelToken, TryGroup};

const DISKS: usize = 4;
const BLOCKS: usize = 40;
/// Disk 2 has a bad block here.
const BAD: (usize, usize) = (2, 12);

#[derive(Debug, PartialEq, Eq)]
enum ScrubError {
    BadBlock { disk: usize, block: usize },
    Stopped { disk: usize },
    ThreadDied { disk: usize },
}

/// Reads every block of `disk`, one blocking step at a time; stops between
/// steps once the token has fired.
fn scrub(disk: usize, token: &CancelToken, scanned: &AtomicUsize) -> Result<usize, ScrubError> {
    for block in 0..BLOCKS {
        if token.is_cancelled() {
            return Err(ScrubError::Stopped { disk });
        }
        thread::sleep(Duration::from_millis(5 + disk as u64)); // a blocking read
        scanned.fetch_add(1, SeqCst);
        if (disk, block) == BAD {
            return Err(ScrubError::BadBlock { disk, block });
        }
    }
    Ok(BLOCKS)
}

fn main() -> ExitCode {
    let scanned: Vec<AtomicUsize> = (0..DISKS).map(|_| AtomicUsize::new(0)).collect();
    let watcher_saw = Mutex::new(None);
    let t0 = Instant::now();

    let (result, reason) = thread::scope(|s| {
        let mut group = TryGroup::new();
        let token = group.token();

        for (disk, scanned) in scanned.iter().enumerate() {
            let (tx, rx) = oneshot::channel();
            let token = token.clone();
            s.spawn(move || {
                // The receiver is gone once the group has returned: ignore.
                let _ = tx.send(scrub(disk, &token, scanned));
            });
            // The child: the thread's answer. A thread that panicked drops
            // `tx` without sending.
            group.push(async move { rx.await.unwrap_or(Err(ScrubError::ThreadDied { disk })) });
        }

        // A thread that only waits for the group to stop.
        let watcher_token = token.clone();
        let watcher_saw = &watcher_saw;
        s.spawn(move || {
            watcher_token.wait_blocking();
            *watcher_saw.lock().unwrap() = Some((watcher_token.reason(), t0.elapsed()));
        });

        let result = futures::executor::block_on(group);
        (result, token.reason())
        // The scope joins every thread here: each returns at its next check.
    });
    let joined = t0.elapsed();

    println!(
        "{DISKS} scrubber threads of {BLOCKS} blocks; disk {} has a bad block at {}",
        BAD.0, BAD.1
    );
    println!("  the group returned: {result:?}");
    println!("  the token fired with {reason:?}");
    let (seen, at) = watcher_saw
        .lock()
        .unwrap()
        .take()
        .unwrap_or((None, Duration::ZERO));
    println!("  the watcher thread woke from wait_blocking() at {at:.0?}, seeing {seen:?}");
    for (disk, n) in scanned.iter().enumerate() {
        println!(
            "  disk {disk}: {} of {BLOCKS} blocks scanned",
            n.load(SeqCst)
        );
    }
    println!("  all threads joined after {joined:.0?}");

    let stopped_early = scanned.iter().all(|n| n.load(SeqCst) < BLOCKS);
    let ok = result
        == Err(ScrubError::BadBlock {
            disk: BAD.0,
            block: BAD.1,
        })
        && reason == Some(CancelReason::Failed { index: BAD.0 })
        && seen == reason
        && stopped_early;
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("threads: unexpected results");
        ExitCode::FAILURE
    }
}
