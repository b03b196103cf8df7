//! The first reason, and what follows it: stopping (the queue, the inbox
//! and the sources dropped; in-flight children dropped or drained), the end,
//! and the teardown of a group dropped or poisoned. Every child is dropped
//! exactly once here, even if some `Drop`s panic.

use super::*;

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Core<'a, T, E, K> {
    /// Records `reason` as the group's first reason and fires the token, unless
    /// a reason came first. True if `reason` won. If an outside cancel fired
    /// the token first, the group adopts that reason.
    pub(crate) fn fire(&mut self, reason: CancelReason) -> bool {
        if self.reason.is_some() {
            return false;
        }
        if let Some(token) = self.token.get() {
            if !token.fire(reason) {
                self.clear_plain();
                self.reason = token.reason();
                return false;
            }
        }
        self.clear_plain();
        self.reason = Some(reason);
        true
    }

    /// Fires `reason` before the group is polled (`with_parent` on a parent
    /// that already fired). The group stops at its first poll, once every
    /// builder call is in; handle pushes are refused from now on.
    pub(crate) fn fire_early(&mut self, reason: CancelReason) {
        self.fire(reason);
        if let Some(inbox) = self.inbox.get() {
            // Keep what is already in: `stop` numbers it and drops it.
            inbox.refuse_pushes();
        }
    }

    /// Fires `reason` and stops the group. True if `reason` won.
    #[inline(never)]
    pub(crate) fn stop_with(&mut self, reason: CancelReason) -> bool {
        let won = self.fire(reason);
        self.stop();
        won
    }

    /// After the first reason: nothing new starts; the queue, the inbox and the
    /// sources are dropped; in-flight children are dropped too, or drained.
    pub(crate) fn stop(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        // Number what handles pushed, so `settle` can report it, but queue
        // it: it was still queued when the group stopped, so it never starts.
        let late = self
            .inbox
            .get()
            .map(|inbox| inbox.close())
            .unwrap_or_default();
        for child in late {
            let index = self.next_index();
            self.extras().queue.push_back((index, child));
        }
        self.set_phase(Phase::Draining);
        let mut panic = None;
        if let Some(extras) = &mut self.extras {
            extras.acquiring = None;
            let queue = std::mem::take(&mut extras.queue);
            let dropped = &mut extras.dropped;
            drop_each(
                queue.into_iter().map(|(index, child)| {
                    if let Some(dropped) = dropped {
                        dropped.push(index);
                    }
                    child
                }),
                &mut panic,
            );
            drop_each(std::mem::take(&mut extras.sources), &mut panic);
        }
        if !self.drain_on_error || self.running.is_empty() {
            self.cut_short_into(&mut panic);
        }
        rethrow(panic);
    }

    /// Ends a drain (or a stop) at once: drops every in-flight child.
    fn cut_short_into(&mut self, panic: &mut Option<Payload>) {
        if let Some(dropped) = self.extras.as_mut().and_then(|x| x.dropped.as_mut()) {
            self.running.for_each(|slot| dropped.push(slot.index));
        }
        drop_each(self.running.drain(), panic);
        self.end_into(panic);
    }

    pub(super) fn end_into(&mut self, panic: &mut Option<Payload>) {
        self.set_phase(Phase::Ended);
        if let Some(extras) = &mut self.extras {
            extras.acquiring = None;
            drop_each(std::mem::take(&mut extras.triggers), panic);
        }
    }

    /// An outside event: the first one stops the group, a later one cuts a
    /// drain short.
    pub(super) fn outside(&mut self, reason: CancelReason) {
        match self.phase {
            Phase::Running => {
                self.stop_with(reason);
            }
            Phase::Draining => {
                let mut panic = None;
                self.cut_short_into(&mut panic);
                rethrow(panic);
            }
            Phase::Ended | Phase::Done => {}
        }
    }

    /// `E::from(Cancelled)` for an outside reason.
    pub(crate) fn cancelled_error(&self, reason: CancelReason) -> E {
        let into = self
            .extras
            .as_ref()
            .and_then(|x| x.cancelled_into)
            .or_else(|| self.inbox.get()?.cancelled_into())
            .expect("trygroup bug: cancelled from outside without `E: From<Cancelled>`");
        into(Cancelled::new(reason))
    }

    /// Marks the output delivered: fires `Finished` if nothing fired before,
    /// and returns the first reason, which the output must follow.
    pub(crate) fn finish(&mut self) -> CancelReason {
        debug_assert_eq!(self.phase, Phase::Ended);
        self.fire(CancelReason::Finished);
        self.set_phase(Phase::Done);
        self.reason.expect("fired above")
    }

    /// A poll of the group unwound: it is finished (rule 7). Fires `Dropped`
    /// if nothing fired, and drops everything left, each exactly once.
    pub(crate) fn poison(&mut self) {
        // The unwind already under way is the one the caller resumes.
        let _ignored = self.abandon();
    }

    /// The group is gone (dropped, or its poll unwound): fires `Dropped` if
    /// nothing fired, and drops everything left, each exactly once; returns
    /// the first panic a `Drop` raised.
    fn abandon(&mut self) -> Option<Payload> {
        self.fire(CancelReason::Dropped);
        self.set_phase(Phase::Done);
        let mut panic = None;
        self.teardown_into(&mut panic);
        panic
    }

    fn teardown_into(&mut self, panic: &mut Option<Payload>) {
        if let Some(inbox) = self.inbox.get() {
            drop_each(inbox.close(), panic);
        }
        if let Some(extras) = &mut self.extras {
            extras.acquiring = None;
            drop_each(std::mem::take(&mut extras.queue), panic);
            drop_each(std::mem::take(&mut extras.sources), panic);
            drop_each(std::mem::take(&mut extras.triggers), panic);
        }
        drop_each(self.running.drain(), panic);
    }
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Drop for Core<'a, T, E, K> {
    fn drop(&mut self) {
        if self.phase == Phase::Done {
            return;
        }
        let panic = self.abandon();
        if !std::thread::panicking() {
            rethrow(panic);
        }
    }
}

/// Drops every item even if some `Drop`s panic; keeps the first panic. One
/// `catch_unwind` guards the whole walk rather than one per item (a group
/// of a million children pays it once): an item is out of the iterator
/// before it is dropped, so a panic ends the walk with that item dropped and
/// the rest still in the iterator, and the walk resumes there.
fn drop_each<I: IntoIterator>(items: I, first: &mut Option<Payload>) {
    let mut items = items.into_iter();
    while let Err(payload) = catch_unwind(AssertUnwindSafe(|| items.by_ref().for_each(drop))) {
        first.get_or_insert(payload);
    }
}

/// Resumes the first panic caught while dropping, once everything is dropped.
pub(super) fn rethrow(panic: Option<Payload>) {
    if let Some(payload) = panic {
        resume_unwind(payload);
    }
}
