//! The main demo: fan out 50 simulated requests on smol, at most 8 in flight,
//! and watch request #30 fail part-way.
//!
//! ```text
//! cargo run --example demo               # first error wins: the rest are dropped
//! cargo run --example demo -- --settle   # collect every result instead (settle())
//! cargo run --example demo -- --seed 7   # other latencies (default seed: 42)
//! ```
//!
//! While it runs, a live display (on stderr, only when it is a terminal)
//! shows the children in flight (never above the limit), queued and done.
//! Then it prints a report and checks it: the exit code is 0 only if the group
//! behaved as documented, so CI runs it too.
//!
//! Nothing is spawned: the group is one future, `smol::block_on` polls it, and
//! the children borrow `board` (a local) to report their progress.

use std::fmt;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use smol::Timer;
use trygroup::{CancelReason, TryGroup};

const REQUESTS: usize = 50;
const LIMIT: usize = 8;
/// The request that fails, half-way through its latency.
const FAILING: usize = 30;

/// What a failed request returns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestError {
    id: usize,
    status: u16,
    after: Duration,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.after.as_millis();
        write!(
            f,
            "request #{}: HTTP {} after {ms} ms",
            self.id, self.status
        )
    }
}

impl std::error::Error for RequestError {}

/// Progress counters and the live display; the children borrow it.
struct Board {
    started: AtomicUsize,
    completed: AtomicUsize,
    dropped_in_flight: AtomicUsize,
    live: AtomicUsize,
    peak: AtomicUsize,
    bars: MultiProgress,
    in_flight_bar: ProgressBar,
    queued_bar: ProgressBar,
    done_bar: ProgressBar,
}

impl Board {
    fn new() -> Self {
        let bars = MultiProgress::new();
        let bar = |len: usize, template: &str| {
            let style = ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("█▉▊▋▌▍▎▏ ");
            bars.add(ProgressBar::new(len as u64).with_style(style))
        };
        let in_flight_bar = bar(
            LIMIT,
            "in flight {bar:32.cyan/blue} {pos:>2}/{len} (the limit)",
        );
        let queued_bar = bar(REQUESTS, "queued    {bar:32.yellow/blue} {pos:>2} {msg}");
        let done_bar = bar(
            REQUESTS,
            "done      {bar:32.green/blue} {pos:>2}/{len}  {elapsed}",
        );
        queued_bar.set_position(REQUESTS as u64);
        Board {
            started: AtomicUsize::new(0),
            completed: AtomicUsize::new(0),
            dropped_in_flight: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            bars,
            in_flight_bar,
            queued_bar,
            done_bar,
        }
    }

    /// Called by a child at its first poll; the guard reports how it ended.
    fn start(&self) -> InFlight<'_> {
        let started = self.started.fetch_add(1, SeqCst) + 1;
        let live = self.live.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(live, SeqCst);
        self.in_flight_bar.set_position(live as u64);
        self.queued_bar.set_position((REQUESTS - started) as u64);
        InFlight {
            board: self,
            completed: false,
        }
    }
}

/// Lives inside a running child: its `Drop` sees the child end, whether it
/// completed or was dropped (cancelled) by the group.
struct InFlight<'a> {
    board: &'a Board,
    completed: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let board = self.board;
        let live = board.live.fetch_sub(1, SeqCst) - 1;
        board.in_flight_bar.set_position(live as u64);
        if self.completed {
            board.completed.fetch_add(1, SeqCst);
            board.done_bar.inc(1);
        } else {
            board.dropped_in_flight.fetch_add(1, SeqCst);
        }
    }
}

/// A simulated request: waits `latency`, or fails half-way if it is `FAILING`.
async fn request(id: usize, latency: Duration, board: &Board) -> Result<Duration, RequestError> {
    let mut guard = board.start();
    if id == FAILING {
        Timer::after(latency / 2).await;
        guard.completed = true;
        let err = RequestError {
            id,
            status: 503,
            after: latency / 2,
        };
        let _ = board.bars.println(format!("✗ {err}"));
        return Err(err);
    }
    Timer::after(latency).await;
    guard.completed = true;
    Ok(latency)
}

fn main() -> ExitCode {
    let mut settle = false;
    let mut seed = 42;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--settle" => settle = true,
            "--seed" => match args.next().and_then(|s| s.parse().ok()) {
                Some(s) => seed = s,
                None => return usage(),
            },
            _ => return usage(),
        }
    }

    let mut rng = fastrand::Rng::with_seed(seed);
    let latencies: Vec<Duration> = (0..REQUESTS)
        .map(|_| Duration::from_millis(rng.u64(100..=600)))
        .collect();
    let sequential: Duration = latencies.iter().sum();

    let mode = if settle {
        "settle()"
    } else {
        "first error wins"
    };
    println!(
        "trygroup demo: {REQUESTS} requests on smol, with_limit({LIMIT}), request #{FAILING} \
         fails part-way; mode: {mode}; seed {seed}"
    );
    if !std::io::stderr().is_terminal() {
        println!("(stderr is not a terminal: live display off)");
    }

    let board = Board::new();
    let mut group = TryGroup::with_limit(LIMIT);
    for (id, &latency) in latencies.iter().enumerate() {
        group.push(request(id, latency, &board)); // push index == id
    }
    let token = group.token();
    let t0 = Instant::now();
    // The token is observed from outside the group: `cancelled()` completes
    // the moment it fires, in the same poll that saw the error.
    let fired_at = async {
        token.cancelled().await;
        t0.elapsed()
    };

    let ok = smol::block_on(async {
        if settle {
            let (results, fired_at) = smol::future::zip(group.settle(), fired_at).await;
            report_settle(&board, &results, &token, fired_at, t0.elapsed(), sequential)
        } else {
            let (result, fired_at) = smol::future::zip(group, fired_at).await;
            report_first_error(&board, &result, &token, fired_at, t0.elapsed(), sequential)
        }
    });
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("demo: the group did not behave as documented");
        ExitCode::FAILURE
    }
}

fn finish_bars(board: &Board, queued_msg: &'static str) {
    board.queued_bar.set_message(queued_msg);
    board.in_flight_bar.abandon();
    board.queued_bar.abandon();
    board.done_bar.abandon();
}

fn report_first_error(
    board: &Board,
    result: &Result<Vec<Duration>, RequestError>,
    token: &trygroup::CancelToken,
    fired_at: Duration,
    total: Duration,
    sequential: Duration,
) -> bool {
    let started = board.started.load(SeqCst);
    let unstarted = REQUESTS - started;
    let completed = board.completed.load(SeqCst);
    let dropped = board.dropped_in_flight.load(SeqCst);
    let peak = board.peak.load(SeqCst);
    finish_bars(board, "dropped unstarted");

    println!();
    let failed_ok = match result {
        Err(err) => {
            println!("  the group returned: Err({err})");
            err.id == FAILING
        }
        Ok(values) => {
            println!(
                "  the group returned Ok with {} values (unexpected)",
                values.len()
            );
            false
        }
    };
    println!(
        "  the token fired at {:.2?} with {:?}",
        fired_at,
        token.reason().expect("fired")
    );
    println!("  completed before it: {} requests Ok", completed - 1);
    println!("  dropped in flight (cancelled): {dropped} siblings, before the group returned");
    println!("  dropped unstarted (queued):    {unstarted} requests, never polled");
    println!("  peak in flight: {peak} (limit {LIMIT})");
    println!("  total time: {total:.2?} (one after another: {sequential:.2?})");

    failed_ok
        && token.reason() == Some(CancelReason::Failed { index: FAILING })
        && peak <= LIMIT
        && completed + dropped == started
        && board.live.load(SeqCst) == 0
}

fn report_settle(
    board: &Board,
    results: &[Result<Duration, RequestError>],
    token: &trygroup::CancelToken,
    fired_at: Duration,
    total: Duration,
    sequential: Duration,
) -> bool {
    let peak = board.peak.load(SeqCst);
    finish_bars(board, "");
    let errors: Vec<(usize, &RequestError)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .collect();
    let oks = results.len() - errors.len();

    println!();
    println!(
        "  settle() returned {} results in push order: {oks} Ok, {} Err",
        results.len(),
        errors.len()
    );
    for (i, err) in &errors {
        println!("    results[{i}] = Err({err})");
    }
    println!(
        "  the token fired at {:.2?} with {:?}: an error does not cancel the siblings",
        fired_at,
        token.reason().expect("fired")
    );
    println!(
        "  dropped: {} (every child ran to the end)",
        board.dropped_in_flight.load(SeqCst)
    );
    println!("  peak in flight: {peak} (limit {LIMIT})");
    println!("  total time: {total:.2?} (one after another: {sequential:.2?})");

    results.len() == REQUESTS
        && errors.len() == 1
        && errors[0].0 == FAILING
        && token.reason() == Some(CancelReason::Finished)
        && board.dropped_in_flight.load(SeqCst) == 0
        && peak <= LIMIT
}

fn usage() -> ExitCode {
    eprintln!("usage: demo [--settle] [--seed N]");
    ExitCode::from(2)
}
