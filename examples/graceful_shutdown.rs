//! The classic Go errgroup program, in Rust: an HTTP server, a watcher that
//! shuts it down gracefully, and a signal handler; when one of them exits,
//! everything exits.
//!
//! ```text
//! cargo run --example graceful_shutdown                  # serves 127.0.0.1:8080
//! curl http://127.0.0.1:8080/ping                         # pong
//! curl http://127.0.0.1:8080/shutdown                     # or press Ctrl-C
//! cargo run --example graceful_shutdown -- --self-test    # what CI runs
//! ```
//!
//! The group has three children, as in the Go seed (`g1`, `g2`, `g3`):
//!
//! 0. **serve** — accepts connections, one child per connection in a nested
//!    group, each served by hyper. When told to stop, it stops accepting and
//!    asks every connection to finish its request and close
//!    (`graceful_shutdown`); when the deadline passes, it drops the rest.
//! 1. **watcher** — waits for the group's token (a sibling failed: a signal)
//!    or for `/shutdown`, then shuts the server down with a deadline, like
//!    Go's `server.Shutdown(timeoutCtx)`.
//! 2. **signals** — turns SIGINT/SIGTERM into an error, which cancels the
//!    group; it returns `Ok` once the server has stopped for another reason.
//!
//! The group uses [`drain_on_error`](trygroup::TryGroup::drain_on_error): a
//! signal's error fires the token, but the server and the watcher are *not*
//! dropped: they are polled until the graceful shutdown is done (that is Go's
//! `Wait`). Without it the first error would drop the server mid-request.
//!
//! # The pitfall (from the Go seed)
//!
//! The group's token fires whenever the group ends: on the first error, but
//! also when every child succeeded ([`CancelReason::Finished`]). So **never
//! make the group's token the parent of work that must outlive the group**
//! (in Go: passing the `ctx` from `errgroup.WithContext` on to a background
//! job, whose context is then cancelled the moment `Wait` returns). Here the
//! server's own lifetime is a separate [`Latch`] (`stop`), fired by the
//! watcher; the token is only the *reason* to fire it. Wrong:
//!
//! ```text
//! group.push_with(|token| async move {
//!     // The audit log must be flushed after the server stops, but this is
//!     // cut short the moment the group ends, even on a clean exit.
//!     token.run_until_cancelled(flush_audit_log()).await;
//!     Ok(())
//! });
//! ```
//!
//! The self-test checks that the token indeed fired `Finished` after a clean
//! shutdown.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use smol::channel::{Receiver, Sender};
use smol::future::{or, zip};
use smol::net::{TcpListener, TcpStream};
use smol::stream::StreamExt;
use smol::Timer;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use trygroup::{CancelReason, CancelToken, TryGroup};

/// How long in-flight requests get to finish once shutdown starts (the Go
/// program's `context.WithTimeout(..., 3*time.Second)`).
const GRACE: Duration = Duration::from_secs(3);

/// Why the program stopped with an error.
#[derive(Debug)]
enum AppError {
    Io(io::Error),
    Signal(Signal),
    ShutdownTimedOut(Duration),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Io(e) => write!(f, "i/o error: {e}"),
            AppError::Signal(s) => write!(f, "got signal {s:?}"),
            AppError::ShutdownTimedOut(d) => write!(f, "graceful shutdown took longer than {d:?}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<io::Error> for AppError {
    fn from(e: io::Error) -> Self {
        AppError::Io(e)
    }
}

/// A one-shot broadcast signal of the program's own (not the group's token):
/// `fire` once, and every `wait`, before or after, completes.
#[derive(Clone)]
struct Latch {
    tx: Sender<()>,
    rx: Receiver<()>,
}

impl Latch {
    fn new() -> Self {
        let (tx, rx) = smol::channel::bounded(1);
        Latch { tx, rx }
    }
    fn fire(&self) {
        self.tx.close();
    }
    async fn wait(&self) {
        let _ = self.rx.recv().await; // a closed channel returns at once
    }
}

/// The HTTP server and its shutdown controls.
struct Server {
    listener: TcpListener,
    /// Stop accepting; connections finish their request and close.
    stop: Latch,
    /// The deadline passed: drop the remaining connections.
    force: Latch,
    /// `serve` has returned.
    stopped: Latch,
    /// `/shutdown` was requested (the Go program's `serverOut`).
    shutdown_requested: (Sender<()>, Receiver<()>),
}

impl Server {
    fn new(listener: TcpListener) -> Self {
        Server {
            listener,
            stop: Latch::new(),
            force: Latch::new(),
            stopped: Latch::new(),
            shutdown_requested: smol::channel::bounded(1),
        }
    }

    /// Go's `ListenAndServe`, but `Ok(())` after a graceful stop.
    async fn serve(&self) -> Result<(), AppError> {
        // One child per connection; the accept loop pushes them through a
        // handle. The nested group ends when the accept loop has returned and
        // every connection has closed.
        let mut connections = TryGroup::<(), AppError>::new();
        let handle = connections.handle();
        connections.push(async move {
            loop {
                let accepted = or(async { Some(self.listener.accept().await) }, async {
                    self.stop.wait().await;
                    None
                })
                .await;
                match accepted {
                    Some(Ok((stream, peer))) => {
                        // Refused only once the group has stopped: then drop it.
                        let _ = handle.push(self.connection(stream, peer));
                    }
                    Some(Err(e)) => log(format!("accept failed: {e}")),
                    None => return Ok(()), // stop accepting
                }
            }
        });
        let result = or(async { connections.await.map(drop) }, async {
            self.force.wait().await;
            log("deadline passed: dropping the connections still open");
            Ok(())
        })
        .await;
        self.stopped.fire();
        result
    }

    /// Serves one connection with hyper until it closes, or until `stop`,
    /// then lets it finish its request and close. A bad client is logged, not
    /// an error of the whole server.
    async fn connection(&self, stream: TcpStream, peer: SocketAddr) -> Result<(), AppError> {
        let requests = self.shutdown_requested.0.clone();
        let service = service_fn(move |req| route(req, requests.clone()));
        let conn = http1::Builder::new()
            .timer(SmolTimer::new())
            .serve_connection(FuturesIo::new(stream), service);
        let mut conn = std::pin::pin!(conn);
        let early = or(async { Some(conn.as_mut().await) }, async {
            self.stop.wait().await;
            None
        })
        .await;
        let result = match early {
            Some(result) => result,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            log(format!("connection {peer}: {e}"));
        }
        Ok(())
    }

    /// Go's `server.Shutdown(ctx)`: stop, wait up to `grace` for the
    /// connections to close, then drop them and report the timeout.
    async fn shutdown(&self, grace: Duration) -> Result<(), AppError> {
        self.stop.fire();
        let in_time = or(
            async {
                self.stopped.wait().await;
                true
            },
            async {
                Timer::after(grace).await;
                false
            },
        )
        .await;
        if in_time {
            log("server stopped gracefully");
            Ok(())
        } else {
            self.force.fire();
            self.stopped.wait().await;
            Err(AppError::ShutdownTimedOut(grace))
        }
    }
}

/// The routes: `/ping`, `/shutdown`, and for the self-test `/slow` (still in
/// flight when the shutdown starts) and `/hang` (outlasts the deadline).
async fn route(
    req: Request<Incoming>,
    shutdown: Sender<()>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/ping" => (StatusCode::OK, "pong"),
        "/slow" => {
            Timer::after(Duration::from_millis(400)).await;
            (StatusCode::OK, "done")
        }
        "/hang" => {
            Timer::after(Duration::from_secs(60)).await;
            (StatusCode::OK, "too late")
        }
        "/shutdown" => {
            let _ = shutdown.try_send(());
            (StatusCode::OK, "shutting down")
        }
        _ => (StatusCode::NOT_FOUND, "not found"),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    Ok(response)
}

/// The errgroup: serve, watcher, signals.
fn group<'a>(
    server: &'a Server,
    mut signals: Signals,
    grace: Duration,
) -> TryGroup<'a, (), AppError> {
    let mut group = TryGroup::new().drain_on_error();

    // g1: the server.
    group.push(server.serve());

    // g2: the watcher.
    group.push_with(|token| async move {
        let why = or(
            async {
                token.cancelled().await;
                format!(
                    "the group's token fired ({})",
                    token.reason().expect("fired")
                )
            },
            async {
                let _ = server.shutdown_requested.1.recv().await;
                "/shutdown was requested".to_string()
            },
        )
        .await;
        log(format!("shutting down: {why}"));
        server.shutdown(grace).await
    });

    // g3: the signals. An error cancels the group (the watcher sees the
    // token); after a shutdown for another reason, nothing is left to wait for.
    group.push_with(|token| async move {
        let signal = or(async { signals.next().await }, async {
            or(token.cancelled(), server.stopped.wait()).await;
            None
        })
        .await;
        match signal {
            Some(Ok(signal)) => Err(AppError::Signal(signal)),
            Some(Err(e)) => Err(AppError::Io(e)),
            None => Ok(()),
        }
    });
    group
}

/// Runs the program on `listener` until it exits; returns the group's output
/// and its token (or the error of setting up the signal handler).
async fn run(
    listener: TcpListener,
    grace: Duration,
) -> io::Result<(Result<(), AppError>, CancelToken)> {
    let signals = Signals::new([Signal::Int, Signal::Term])?;
    let server = Server::new(listener);
    let group = group(&server, signals, grace);
    let token = group.token();
    Ok((group.await.map(drop), token))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:8080".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--self-test" => return self_test(),
            "--addr" => match args.next() {
                Some(a) => addr = a,
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    smol::block_on(async {
        let listener = match TcpListener::bind(&addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().expect("bound");
        log(format!(
            "listening on http://{addr}: try /ping, /shutdown or Ctrl-C"
        ));
        let (result, token) = match run(listener, GRACE).await {
            Ok(outcome) => outcome,
            Err(e) => {
                eprintln!("cannot install the signal handler: {e}");
                return ExitCode::FAILURE;
            }
        };
        log(format!(
            "errgroup exiting: {result:?} (token: {:?})",
            token.reason()
        ));
        match result {
            Ok(()) | Err(AppError::Signal(_)) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        }
    })
}

/// Starts the server on a loopback port three times and checks each exit:
/// `/shutdown` over HTTP, SIGTERM while a request is in flight, and a request
/// that outlasts the shutdown deadline.
fn self_test() -> ExitCode {
    let mut failures = 0;
    let mut check = |name: &str, ok: bool| {
        println!("  [{}] {name}", if ok { "ok" } else { "FAILED" });
        failures += usize::from(!ok);
    };
    let watchdog = Duration::from_secs(10);

    smol::block_on(async {
        println!("self-test 1: /ping, then /shutdown");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound");
        let client = async {
            let ping = get(addr, "/ping").await;
            let shutdown = get(addr, "/shutdown").await;
            (ping, shutdown)
        };
        let (outcome, (ping, shutdown)) =
            zip(with_watchdog(run(listener, GRACE), watchdog), client).await;
        check(
            "GET /ping answers 200 pong",
            matches!(&ping, Ok((200, b)) if b == "pong"),
        );
        check(
            "GET /shutdown answers 200",
            matches!(&shutdown, Ok((200, _))),
        );
        match outcome {
            Some(Ok((result, token))) => {
                check("the group returned Ok(())", result.is_ok());
                check(
                    "the token fired Finished although nothing failed (the pitfall)",
                    token.reason() == Some(CancelReason::Finished),
                );
            }
            Some(Err(e)) => check(&format!("the signal handler was installed ({e})"), false),
            None => check("the server exited within the watchdog", false),
        }
        check(
            "the port is closed afterwards",
            TcpStream::connect(addr).await.is_err(),
        );

        println!("self-test 2: SIGTERM while /slow is in flight");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound");
        let client = async {
            let ping = get(addr, "/ping").await;
            let slow = async { get(addr, "/slow").await };
            let kill = async {
                Timer::after(Duration::from_millis(100)).await;
                send_sigterm_to_self()
            };
            let (slow, killed) = zip(slow, kill).await;
            (ping, slow, killed)
        };
        let (outcome, (ping, slow, killed)) =
            zip(with_watchdog(run(listener, GRACE), watchdog), client).await;
        check(
            "GET /ping answers 200 pong",
            matches!(&ping, Ok((200, b)) if b == "pong"),
        );
        check("SIGTERM was sent", killed);
        check(
            "the in-flight /slow still got its answer (graceful)",
            matches!(&slow, Ok((200, b)) if b == "done"),
        );
        match outcome {
            Some(Ok((result, token))) => {
                check(
                    "the group returned the signal's error",
                    matches!(result, Err(AppError::Signal(Signal::Term))),
                );
                check(
                    "the token fired Failed { index: 2 } (the signals child)",
                    token.reason() == Some(CancelReason::Failed { index: 2 }),
                );
            }
            Some(Err(e)) => check(&format!("the signal handler was installed ({e})"), false),
            None => check("the server exited within the watchdog", false),
        }
        println!("self-test 3: a request outlasts the shutdown deadline");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound");
        let grace = Duration::from_millis(300);
        let client = async {
            let hang = async { get(addr, "/hang").await };
            let shutdown = async {
                Timer::after(Duration::from_millis(100)).await;
                get(addr, "/shutdown").await
            };
            zip(hang, shutdown).await
        };
        let started = Instant::now();
        let (outcome, (hang, shutdown)) =
            zip(with_watchdog(run(listener, grace), watchdog), client).await;
        check(
            "GET /shutdown answers 200",
            matches!(&shutdown, Ok((200, _))),
        );
        check(
            "the hanging request was cut off (its connection dropped)",
            hang.is_err(),
        );
        check(
            "the program exited soon after the deadline",
            started.elapsed() < Duration::from_secs(2),
        );
        match outcome {
            Some(Ok((result, token))) => {
                check(
                    "the group returned ShutdownTimedOut",
                    matches!(result, Err(AppError::ShutdownTimedOut(_))),
                );
                check(
                    "the token fired Failed { index: 1 } (the watcher)",
                    token.reason() == Some(CancelReason::Failed { index: 1 }),
                );
            }
            Some(Err(e)) => check(&format!("the signal handler was installed ({e})"), false),
            None => check("the server exited within the watchdog", false),
        }
    });

    if failures == 0 {
        println!("self-test passed");
        ExitCode::SUCCESS
    } else {
        println!("self-test: {failures} checks failed");
        ExitCode::FAILURE
    }
}

async fn with_watchdog<F: std::future::Future>(fut: F, limit: Duration) -> Option<F::Output> {
    or(async { Some(fut.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

/// A GET over loopback with hyper's client: `(status, body)`.
async fn get(
    addr: SocketAddr,
    path: &str,
) -> Result<(u16, String), Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(FuturesIo::new(stream)).await?;
    let request = Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let exchange = async move {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    // `conn` drives the socket; it ends once `sender` is dropped.
    let (result, _) = zip(exchange, conn).await;
    result
}

/// `kill -TERM <own pid>`, through the shell's built-in `kill`.
fn send_sigterm_to_self() -> bool {
    let pid = std::process::id();
    std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .is_ok_and(|s| s.success())
}

fn log(msg: impl AsRef<str>) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed();
    println!("[{:>7.3}s] {}", t.as_secs_f64(), msg.as_ref());
}

fn usage() -> ExitCode {
    eprintln!("usage: graceful_shutdown [--addr HOST:PORT] | --self-test");
    ExitCode::from(2)
}
