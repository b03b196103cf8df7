//! A `TryGroup` inside tokio, with tokio's timers.
//!
//! ```text
//! cargo run --example tokio_interop
//! ```
//!
//! The group is a plain future: tokio does not need to know about it. The
//! children use `tokio::time::sleep`, the deadline is a `tokio::time::sleep`
//! given to [`cancel_on`](trygroup::TryGroup::cancel_on), and since the group
//! is `Unpin` and cancel safe it can sit in a `tokio::select!` loop next to a
//! progress ticker. Nothing is spawned, so the children run on the task that
//! awaits the group (they may borrow its locals); to use several cores, see
//! `examples/parallel.rs`.
//!
//! The same job runs on a current-thread and on a multi-thread runtime.
//! `examples/async_std.rs` is the same program on async-std.

use std::time::{Duration, Instant};

use tokio::time::sleep;
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

    // The group is Unpin and cancel safe: losing a `select!` branch loses
    // nothing, so it can be polled alongside a ticker.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            result = &mut group => return result,
            _ = tick.tick() => println!(
                "    ... {} in flight, {} queued",
                group.in_flight(),
                group.queued()
            ),
        }
    }
}

async fn both_deadlines(runtime: &str) -> bool {
    let t0 = Instant::now();
    let generous = job(Duration::from_secs(2)).await;
    println!(
        "  {runtime}, 2 s deadline:   {generous:?} after {:.0?}",
        t0.elapsed()
    );

    let t0 = Instant::now();
    let tight = job(Duration::from_millis(150)).await;
    println!(
        "  {runtime}, 150 ms deadline: {tight:?} after {:.0?}",
        t0.elapsed()
    );

    matches!(&generous, Ok(pages) if pages.len() == 12 && pages[11] == 1100)
        && matches!(&tight, Err(JobError::Cancelled(c)) if c.reason() == CancelReason::Trigger)
}

fn main() -> std::process::ExitCode {
    println!("tokio current-thread runtime:");
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let ok_current = current.block_on(both_deadlines("current-thread"));

    println!("tokio multi-thread runtime:");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    // On a multi-thread runtime the group can also be spawned: with `Send`
    // children the whole group is `Send + 'static` here.
    let ok_multi = multi
        .block_on(async { tokio::spawn(both_deadlines("multi-thread")).await })
        .expect("the task did not panic");

    if ok_current && ok_multi {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("tokio_interop: unexpected results");
        std::process::ExitCode::FAILURE
    }
}
