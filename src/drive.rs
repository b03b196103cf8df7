//! The three ways of awaiting a group, over the one [`Core`]:
//! [`Collect`] (the group as a future), [`Settle`] (`settle()`) and
//! [`IntoStream`] (`into_stream()`). Each turns child outcomes into its output,
//! and all three follow the first reason the core recorded (rule 8).

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedFuture, FusedStream, Stream};

use crate::core::{Core, Outcome, Payload, Results};
use crate::kind::Kind;
use crate::{CancelReason, Panicked};

/// Runs one poll of `core`'s frontend; if it unwinds, the group is finished
/// (rule 7): everything left is dropped, then the original panic resumes.
fn guarded<'a, T: 'a, E: 'a, K: Kind<'a, T, E>, R>(
    core: &mut Core<'a, T, E, K>,
    poll: impl FnOnce(&mut Core<'a, T, E, K>) -> R,
) -> R {
    match catch_unwind(AssertUnwindSafe(|| poll(&mut *core))) {
        Ok(r) => r,
        Err(payload) => {
            core.poison();
            resume_unwind(payload)
        }
    }
}

/// A child panicked in a group that stops on it (not `settle`): fire
/// `Panicked`, then either unwind with the original payload or, with
/// `catch_panics`, stop and return the error if this panic was the first reason.
#[cold]
#[inline(never)]
fn on_panic<'a, T: 'a, E: 'a, K: Kind<'a, T, E>>(
    core: &mut Core<'a, T, E, K>,
    index: usize,
    payload: Payload,
) -> Option<E> {
    let won = core.fire(CancelReason::Panicked { index });
    let Some(into) = core.panicked_into() else {
        resume_unwind(payload)
    };
    core.stop();
    won.then(|| into(Panicked::new(index, payload)))
}

/// The group awaited as a future: `Result<Vec<T>, E>` in push order.
pub(crate) struct Collect<'a, T, E, K: Kind<'a, T, E>> {
    pub(crate) core: Core<'a, T, E, K>,
    results: Results<T>,
    first: Option<E>,
}

// The frontends never pin their fields (children are boxed; values and errors
// are only moved), so they are `Unpin` whatever `T` and `E` are.
impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Unpin for Collect<'a, T, E, K> {}
impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Unpin for Settle<'a, T, E, K> {}
impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Unpin for IntoStream<'a, T, E, K> {}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Collect<'a, T, E, K> {
    pub(crate) fn new() -> Self {
        Collect {
            core: Core::new(),
            results: Results::new(),
            first: None,
        }
    }

    pub(crate) fn into_settle(self) -> Settle<'a, T, E, K> {
        let mut core = self.core;
        core.track_dropped();
        Settle {
            core,
            results: Results::new(),
        }
    }

    pub(crate) fn into_stream(self) -> IntoStream<'a, T, E, K> {
        IntoStream {
            core: self.core,
            first: None,
            done: false,
        }
    }

    #[track_caller]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, E>> {
        self.core.assert_pollable("TryGroup");
        let Collect {
            core,
            results,
            first,
        } = self;
        guarded(core, |core| {
            core.begin_poll(cx);
            results.reserve_for(core.accepted());
            loop {
                match futures_core::ready!(core.poll_next(cx)) {
                    Some((index, Outcome::Ok(value))) => results.store(index, value),
                    Some((index, Outcome::Err(error))) => {
                        if core.stop_with(CancelReason::Failed { index }) {
                            *first = Some(error);
                        }
                    }
                    Some((index, Outcome::Panic(payload))) => {
                        if let Some(error) = on_panic(core, index, payload) {
                            *first = Some(error);
                        }
                    }
                    None => break,
                }
            }
            Poll::Ready(match core.finish() {
                CancelReason::Finished => Ok(std::mem::take(results).into_vec(core.accepted())),
                CancelReason::Failed { .. } | CancelReason::Panicked { .. } => Err(first
                    .take()
                    .expect("trygroup bug: first error not recorded")),
                outside => Err(core.cancelled_error(outside)),
            })
        })
    }
}

/// The future `settle()` returns: every child's result in push order.
pub(crate) struct Settle<'a, T, E, K: Kind<'a, T, E>> {
    core: Core<'a, T, E, K>,
    results: Results<Result<T, E>>,
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Future for Settle<'a, T, E, K> {
    type Output = Vec<Result<T, E>>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.core.assert_pollable("settle()");
        let Settle { core, results } = &mut *self;
        guarded(core, |core| {
            core.begin_poll(cx);
            loop {
                match futures_core::ready!(core.poll_next(cx)) {
                    Some((index, Outcome::Ok(value))) => results.store(index, Ok(value)),
                    Some((index, Outcome::Err(error))) => results.store(index, Err(error)),
                    Some((index, Outcome::Panic(payload))) => match core.panicked_into() {
                        Some(into) => {
                            results.store(index, Err(into(Panicked::new(index, payload))))
                        }
                        None => {
                            core.fire(CancelReason::Panicked { index });
                            resume_unwind(payload)
                        }
                    },
                    None => break,
                }
            }
            let reason = core.finish();
            for index in core.take_dropped() {
                results.store(index, Err(core.cancelled_error(reason)));
            }
            Poll::Ready(std::mem::take(results).into_vec(core.accepted()))
        })
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> FusedFuture for Settle<'a, T, E, K> {
    fn is_terminated(&self) -> bool {
        self.core.is_done()
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> fmt::Debug for Settle<'a, T, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Settle").field(&self.core).finish()
    }
}

/// The stream `into_stream()` returns: results in completion order, the first
/// error last.
pub(crate) struct IntoStream<'a, T, E, K: Kind<'a, T, E>> {
    core: Core<'a, T, E, K>,
    first: Option<E>,
    done: bool,
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Stream for IntoStream<'a, T, E, K> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done || self.core.is_done() {
            return Poll::Ready(None);
        }
        let IntoStream { core, first, done } = &mut *self;
        guarded(core, |core| {
            core.begin_poll(cx);
            loop {
                match futures_core::ready!(core.poll_next(cx)) {
                    Some((_, Outcome::Ok(value))) => return Poll::Ready(Some(Ok(value))),
                    Some((index, Outcome::Err(error))) => {
                        if core.stop_with(CancelReason::Failed { index }) {
                            *first = Some(error);
                        }
                    }
                    Some((index, Outcome::Panic(payload))) => {
                        if let Some(error) = on_panic(core, index, payload) {
                            *first = Some(error);
                        }
                    }
                    None => break,
                }
            }
            *done = true;
            Poll::Ready(match core.finish() {
                CancelReason::Finished => None,
                CancelReason::Failed { .. } | CancelReason::Panicked { .. } => {
                    first.take().map(Err)
                }
                outside => Some(Err(core.cancelled_error(outside))),
            })
        })
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> FusedStream for IntoStream<'a, T, E, K> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> fmt::Debug for IntoStream<'a, T, E, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoStream")
            .field("core", &self.core)
            .field("done", &self.done)
            .finish()
    }
}
