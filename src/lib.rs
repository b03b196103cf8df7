//! Go's errgroup for async Rust: run a group of fallible futures in place, on
//! any executor, and cancel the rest on the first error.
//!
//! A [`TryGroup`] is a future. It holds its children in a
//! [`FuturesUnordered`](futures_util::stream::FuturesUnordered) and polls them
//! **in place**, on whatever task awaits the group: nothing is spawned, so it
//! runs on smol, async-std, tokio, `futures::executor` or `pollster`, and
//! children may borrow local data. The first error wins: every other child is
//! dropped before the group returns it, and the group's [`CancelToken`] fires
//! for anyone who wants to know.
//!
//! ```
//! use trygroup::TryGroup;
//! # futures::executor::block_on(async {
//! let mut group = TryGroup::with_limit(8); // at most 8 children in flight
//! for id in 0..100u32 {
//!     group.push(async move {
//!         if id == 42 { Err(format!("request {id} failed")) } else { Ok(id * 2) }
//!     });
//! }
//! let token = group.token();
//! assert_eq!(group.await, Err("request 42 failed".to_string()));
//! assert!(token.is_cancelled());
//! # });
//! ```
//!
//! # Semantics
//!
//! | when ...                     | siblings in flight             | queued / lazy children   | the group returns                | the token fires          |
//! |------------------------------|--------------------------------|--------------------------|----------------------------------|--------------------------|
//! | every child returns `Ok`     | —                              | all run, FIFO            | `Ok(values)` in push order       | `Finished`               |
//! | a child returns `Err`        | dropped before it returns      | dropped, never started   | that first `Err`                 | `Failed { index }`       |
//! | ... with `drain_on_error`    | polled to the end (Go's `Wait`)| dropped, never started   | the first `Err`                  | `Failed { index }`       |
//! | a child panics               | dropped                        | dropped                  | the panic resumes                | `Panicked { index }`     |
//! | ... with `catch_panics`      | dropped                        | dropped                  | `Err(E::from(Panicked))`         | `Panicked { index }`     |
//! | cancelled from outside       | dropped (drained with `drain_on_error`) | dropped         | `Err(E::from(Cancelled))`        | `Cancelled`/`Parent`/`Trigger` |
//! | the group is dropped         | dropped                        | dropped                  | —                                | `Dropped`                |
//! | `settle()`                   | never cancelled by an error    | all run                  | `Vec<Result<T, E>>` in push order| `Finished`               |
//! | `with_limit(n)`              | at most `n` in flight at any instant | start FIFO as slots free |                            |                          |
//!
//! The token records only the first reason, and the output always follows
//! it: if an outside cancel fired the token before a child's error was seen,
//! the group returns `Cancelled`, and the other way round.
//!
//! The numbered rules:
//!
//! 1. Results are in push order: direct pushes and lazy pulls in program
//!    order; a [`Handle::push`] is numbered when the group takes it in (at its
//!    next poll).
//! 2. The first error is the first one observed, in poll order.
//! 3. An empty group resolves at its first poll to `Ok(vec![])`, even with a
//!    pending `cancel_on` trigger, unless it was already cancelled.
//! 4. Handles never keep a group alive. After the group finishes, a push
//!    through a handle returns the future as [`Closed`]; a push racing the
//!    finish either runs or comes back, never both, never neither.
//! 5. Once the group has failed or been cancelled, nothing new starts:
//!    [`TryGroup::push`] drops the future unpolled, [`TryGroup::try_push`] and
//!    [`Handle::push`] give it back.
//! 6. Polling a group after it completed panics; so does `push`.
//!    A group whose `poll` unwound is finished too.
//! 7. A panic in a child's `Drop`, a lazy source or a trigger propagates, but
//!    every other child is still dropped exactly once.
//! 8. One poll does a bounded amount of work (at most 128 completions or
//!    batches of handle pushes taken in, and 128 lazy pulls plus one per
//!    slot of the limit, up to 256), then the group
//!    wakes itself and returns `Pending`, so a million always-ready children
//!    never hog the executor thread.
//!
//! # One batch of one type: [`try_join_iter`]
//!
//! When the children are one iterator of futures of one type
//! (`(0..n).map(fetch)`), [`try_join_iter`] runs them without a box each:
//! every child is polled in a pinned slot that the next child reuses, and
//! the iterator is pulled only as slots free
//! ([`with_limit`](TryJoinIter::with_limit)). Same first-error rule, same
//! token, in safe code, and several times faster than [`TryGroup`] (and than
//! `try_join_all`, `try_for_each_concurrent` or futures-concurrency's
//! `Vec::try_join`) when children finish quickly: see the README's
//! Performance section. It takes no children once it runs and has no
//! `settle`, streams or policies; for those, use [`TryGroup`] and
//! [`TryGroup::feed`].
//!
//! ```
//! # futures::executor::block_on(async {
//! async fn fetch(id: u32) -> Result<u32, String> {
//!     Ok(id * 2)
//! }
//! let values = trygroup::try_join_iter((0..1000).map(fetch)).with_limit(64).await?;
//! assert_eq!(values.len(), 1000);
//! # Ok::<(), String>(())
//! # }).unwrap();
//! ```
//!
//! # Runtime support
//!
//! The crate depends on no runtime. It is tested on smol, async-std, tokio
//! (current-thread and multi-thread), `futures::executor::block_on` and
//! `pollster`. Deadlines come from your runtime's timer through
//! [`TryGroup::cancel_on`]. To use several cores, push the runtime's task
//! handles as children (a smol `Task` cancels on drop; wrap a tokio
//! `JoinHandle` so that dropping aborts it).
//!
//! # Comparison
//!
//! * `futures::future::try_join_all`: also polls in place and short-circuits,
//!   but has no limit, no lazy source, no token, no way to add children while
//!   it runs; at or below 30 children it polls every child on every wake
//!   (above that it switches to a `FuturesOrdered`).
//! * A hand-written `FuturesUnordered` loop: the same machinery this crate is
//!   built on; you write the ordering, the limit, the queue, the panic policy
//!   and the cancellation yourself.
//! * tokio's `JoinSet` + `CancellationToken`: spawns, so children must be
//!   `'static + Send` and it needs the tokio runtime; it does use every core
//!   without further work.
//! * Go's errgroup: the model. `Wait` drains (see
//!   [`drain_on_error`](TryGroup::drain_on_error)); `SetLimit`/`TryGo` are
//!   [`with_limit`](TryGroup::with_limit)/[`try_push`](TryGroup::try_push);
//!   `WithContext` is [`token`](TryGroup::token), with the same pitfall: the
//!   token fires when the group ends, even on success.

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![doc(test(attr(deny(warnings))))]

mod core;
mod drive;
mod error;
mod group;
mod handle;
mod inbox;
mod join_iter;
mod kind;
mod probe;
mod sync;
mod token;

pub use error::{Cancelled, Closed, Panicked};
pub use group::{LocalTryGroup, TryGroup};
pub use handle::{Handle, LocalHandle};
pub use join_iter::{try_join_iter, TryJoinIter};
pub use token::{CancelReason, CancelToken, WaitCancelled};
