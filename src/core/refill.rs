//! Starting children: from the queue, then from lazy sources, while slots
//! (and, with a shared semaphore, permits) allow.

use super::*;

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Core<'a, T, E, K> {
    /// Starts queued children, then lazy ones, while slots (and permits) allow.
    #[inline]
    pub(super) fn refill(&mut self, cx: &mut Context<'_>) {
        if !self.nothing_waiting() {
            // Counted once here: `FuturesUnordered::len` is not free.
            let free = self.free_slots();
            if free > 0 {
                self.refill_slow(cx, free);
            }
        }
    }

    /// Starts up to `free` children.
    #[inline]
    fn refill_slow(&mut self, cx: &mut Context<'_>, mut free: usize) {
        if self.phase != Phase::Running {
            return;
        }
        if self.inbox.get().is_some() || self.has_semaphore() {
            return self.refill_general(cx);
        }
        // No permits to take and no handle pushes to put first: the queue,
        // then the sources, as long as slots are free.
        while free > 0 {
            let Some(extras) = self.extras.as_deref_mut() else {
                return;
            };
            let (index, child) = match extras.queue.pop_front() {
                Some(queued) => queued,
                None if extras.sources.is_empty() => return,
                None if self.pulls_left == 0 => {
                    // Out of pull budget: yield, and come back for more.
                    cx.waker().wake_by_ref();
                    return;
                }
                None => {
                    let Some(child) = pull_from(&mut extras.sources, cx) else {
                        return;
                    };
                    self.pulls_left -= 1;
                    (self.next_index(), child)
                }
            };
            self.start(index, child, None);
            free -= 1;
        }
    }

    /// `refill_slow` with handles (whose pushes go before lazy items, rule
    /// 9) or a shared semaphore (a permit before each start).
    #[inline(never)]
    fn refill_general(&mut self, cx: &mut Context<'_>) {
        while self.phase == Phase::Running && self.has_slot() {
            if self.queue_is_empty() {
                if self.nothing_waiting() {
                    return;
                }
                // Handle pushes still in the inbox count as queued: they go
                // before the next lazy item (rule 9).
                if self.take_in() {
                    continue;
                }
                if self.pulls_left == 0 {
                    // Out of pull budget: yield, and come back for more.
                    cx.waker().wake_by_ref();
                    return;
                }
            }
            let Poll::Ready(permit) = self.poll_permit(cx) else {
                return;
            };
            if let Some((index, child)) = self.extras().queue.pop_front() {
                self.start(index, child, permit);
            } else if let Some(child) = self.pull(cx) {
                self.pulls_left -= 1;
                let index = self.next_index();
                self.start(index, child, permit);
            } else {
                return; // sources pending or exhausted; `permit` goes back
            }
        }
    }

    /// Puts a child in flight, with its semaphore permit if it took one.
    #[inline]
    pub(super) fn start(
        &mut self,
        index: usize,
        child: K::Child,
        permit: Option<SemaphoreGuardArc>,
    ) {
        let child = match permit {
            Some(permit) => K::with_permit(child, permit),
            None => child,
        };
        self.running.push(Slot::new(index, child));
    }

    /// A permit for the next start: `None` without a shared semaphore.
    #[inline]
    fn poll_permit(&mut self, cx: &mut Context<'_>) -> Poll<Option<SemaphoreGuardArc>> {
        if self.has_semaphore() {
            self.poll_semaphore(cx)
        } else {
            Poll::Ready(None)
        }
    }

    fn poll_semaphore(&mut self, cx: &mut Context<'_>) -> Poll<Option<SemaphoreGuardArc>> {
        let Some(Extras {
            semaphore: Some(semaphore),
            acquiring,
            ..
        }) = self.extras.as_deref_mut()
        else {
            return Poll::Ready(None);
        };
        if acquiring.is_none() {
            if let Some(permit) = semaphore.try_acquire_arc() {
                return Poll::Ready(Some(permit));
            }
            *acquiring = Some(Box::pin(semaphore.acquire_arc()));
        }
        let waiting = acquiring.as_mut().expect("set above");
        let permit = futures_core::ready!(waiting.as_mut().poll(cx));
        *acquiring = None;
        Poll::Ready(Some(permit))
    }

    /// The next child from the first lazy source that has one.
    #[inline]
    fn pull(&mut self, cx: &mut Context<'_>) -> Option<K::Child> {
        pull_from(&mut self.extras.as_mut()?.sources, cx)
    }
}

/// The next child from the first of `sources` that has one; drops the
/// exhausted ones on the way.
#[inline(always)]
fn pull_from<S: Stream + Unpin>(
    sources: &mut VecDeque<S>,
    cx: &mut Context<'_>,
) -> Option<S::Item> {
    // The first source, while it is exhausted, goes: the everyday case is
    // one source with an item ready, and `front_mut` is cheaper than `[i]`.
    loop {
        let first = sources.front_mut()?;
        match Pin::new(first).poll_next(cx) {
            Poll::Ready(Some(child)) => return Some(child),
            Poll::Ready(None) => drop(sources.pop_front()),
            Poll::Pending => break,
        }
    }
    // The first is pending: the others, in order.
    let mut i = 1;
    while i < sources.len() {
        match Pin::new(&mut sources[i]).poll_next(cx) {
            Poll::Ready(Some(child)) => return Some(child),
            Poll::Ready(None) => drop(sources.remove(i)),
            Poll::Pending => i += 1,
        }
    }
    None
}
