//! The parts of a group that only some groups use, boxed and made on
//! first use.

use super::*;

/// The parts of a group that only a limit, a shared semaphore, lazy sources,
/// triggers or `settle` need.
pub(super) struct Extras<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> {
    pub(super) queue: VecDeque<(usize, K::Child)>,
    pub(super) sources: VecDeque<K::Source>,
    pub(super) triggers: Vec<(CancelReason, K::Trigger)>,
    pub(super) semaphore: Option<StdArc<Semaphore>>,
    pub(super) acquiring: Option<Pin<Box<AcquireArc>>>,
    /// `settle` mode: the indices of children dropped unfinished.
    pub(super) dropped: Option<Vec<usize>>,
    /// `catch_panics`: how a child's panic becomes `E`.
    pub(super) panicked_into: Option<fn(Panicked) -> E>,
    /// `cancel_on` / `with_parent`: how an outside cancel becomes `E`.
    pub(super) cancelled_into: Option<IntoCancelled<E>>,
    /// `Handle::cancel` calls seen so far (the inbox counts them all).
    pub(super) late_cancels_seen: usize,
}

impl<'a, T: 'a, E: 'a, K: Kind<'a, T, E>> Default for Extras<'a, T, E, K> {
    fn default() -> Self {
        Extras {
            queue: VecDeque::new(),
            sources: VecDeque::new(),
            triggers: Vec::new(),
            semaphore: None,
            acquiring: None,
            dropped: None,
            panicked_into: None,
            cancelled_into: None,
            late_cancels_seen: 0,
        }
    }
}
