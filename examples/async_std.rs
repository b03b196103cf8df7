//! A `TryGroup` inside async-std, with async-std's timers: the same job as
//! `examples/tokio_interop.rs`.
//!
//! ```text
//! cargo run --example async_std
//! ```
//!
//! The children use `async_std::task::sleep` and the deadline is one too,
//! given to [`cancel_on`](trygroup::TryGroup::cancel_on). The group is a plain
//! future polled by the task that awaits it; `futures::select!` (or any other
//! `select`) can race it against a ticker because it is `Unpin` and
//! `FusedFuture`.

use std::time::{Duration, Instant};

use async_std::task::sleep;
use futures::FutureExt;
use trygroup::{CancelReason, Cancelled, TryGroup};

#[derive(Debug)]
enum JobError {
    Cancelled(Cancelled),
}

impl From<Cancelled> for JobError {
    fn from(c: Cancelled) -> Self {
        JobError::Cancelled(c)
    }
}

/// The small job: 12 "pages", at most 4 fetched at once, each taking
/// 20..130 ms; the whole job is cancelled when `deadline` elapses.
async fn job(deadline: Duration) -> Result<Vec<u64>, JobError> {
    let mut group = TryGroup::with_limit(4).cancel_on(sleep(deadline));
    for page in 0..12u64 {
        group.push(async move {
            sleep(Duration::from_millis(20 + page * 10)).await;
            Ok(page * 100)
        });
    }

    // A progress ticker next to the group; the group is `FusedFuture`, as
    // `futures::select!` wants.
    loop {
        let mut tick = sleep(Duration::from_millis(100)).boxed().fuse();
        futures::select! {
            result = group => return result,
            _ = tick => println!(
                "    ... {} in flight, {} queued",
                group.in_flight(),
                group.queued()
            ),
        }
    }
}

#[async_std::main]
async fn main() -> std::process::ExitCode {
    println!("async-std:");
    let t0 = Instant::now();
    let generous = job(Duration::from_secs(2)).await;
    println!("  2 s deadline:   {generous:?} after {:.0?}", t0.elapsed());

    let t0 = Instant::now();
    let tight = job(Duration::from_millis(150)).await;
    println!("  150 ms deadline: {tight:?} after {:.0?}", t0.elapsed());

    // The same group, spawned as an async-std task (Send children make the
    // group Send).
    let spawned = async_std::task::spawn(job(Duration::from_secs(2))).await;
    println!(
        "  spawned as a task: {} pages",
        spawned.as_ref().map_or(0, Vec::len)
    );

    let ok = matches!(&generous, Ok(pages) if pages.len() == 12 && pages[11] == 1100)
        && matches!(&tight, Err(JobError::Cancelled(c)) if c.reason() == CancelReason::Trigger)
        && matches!(&spawned, Ok(pages) if pages.len() == 12);
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("async_std: unexpected results");
        std::process::ExitCode::FAILURE
    }
}
