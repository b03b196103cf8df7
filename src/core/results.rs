//! Children's values, kept in push order.

/// `Ok` values by push index.
///
/// While values arrive in index order (ready children, FIFO wakes: the
/// common case) they are pushed straight onto the output `Vec`, and handing
/// it out costs nothing. The first value out of order moves them into
/// `Option` slots, once.
///
/// A zero-sized `T` needs no slots: every value of it is the same, so the
/// order is moot and the values are simply pushed (a `Vec` of a zero-sized
/// type never allocates). That keeps `feed`ing millions of `()` children at
/// O(limit) memory.
pub(crate) struct Results<T> {
    in_order: Vec<T>,
    slots: Vec<Option<T>>,
}

impl<T> Default for Results<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Results<T> {
    const ZST: bool = std::mem::size_of::<T>() == 0;

    pub(crate) fn new() -> Self {
        Results {
            in_order: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Room for `total` values, asked at each poll: taken before children
    /// finish, so the allocator need not merge the chunks freed children
    /// leave. One comparison on most polls. In slots mode `in_order` is
    /// empty but keeps its capacity, so slots are pre-made only past it;
    /// `store_slow` makes any others.
    #[inline]
    pub(crate) fn reserve_for(&mut self, total: usize) {
        if !Self::ZST && total > self.in_order.capacity() {
            self.reserve_more(total);
        }
    }

    #[inline]
    fn reserve_more(&mut self, total: usize) {
        if self.slots.is_empty() {
            if self.in_order.capacity() == 0 {
                // The first poll: one plain allocation, not the grow path
                // (`reserve` goes through `finish_grow`, twice the cost for
                // a group of three).
                self.in_order = Vec::with_capacity(total);
            } else if self.in_order.capacity() < total {
                self.in_order.reserve(total - self.in_order.len());
            }
        } else if self.slots.len() < total {
            self.slots.resize_with(total, || None);
        }
    }

    #[inline]
    pub(crate) fn store(&mut self, index: usize, value: T) {
        if Self::ZST || (self.slots.is_empty() && index == self.in_order.len()) {
            self.in_order.push(value);
        } else if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(value);
        } else {
            self.store_slow(index, value);
        }
    }

    /// The first value out of order (the values so far move into slots), or
    /// one past the slots made so far.
    #[cold]
    fn store_slow(&mut self, index: usize, value: T) {
        if self.slots.is_empty() {
            self.slots = self.in_order.drain(..).map(Some).collect();
        }
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(value);
    }

    /// All values in push order; `len` children must have stored one.
    pub(crate) fn into_vec(self, len: usize) -> Vec<T> {
        if self.slots.is_empty() {
            debug_assert_eq!(self.in_order.len(), len);
            return self.in_order;
        }
        debug_assert_eq!(self.slots.len(), len);
        self.slots
            .into_iter()
            .map(|slot| slot.expect("trygroup bug: a child finished without a value"))
            .collect()
    }
}
