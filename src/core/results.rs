//! Children's values, kept in push order.

/// `Ok` values by push index.
///
/// A zero-sized `T` needs no slots: every value of it is the same, so the
/// values are simply counted (a `Vec` of a zero-sized type never allocates).
/// That keeps `feed`ing millions of `()` children at O(limit) memory.
pub(crate) struct Results<T> {
    slots: Vec<Option<T>>,
    zero_sized: Vec<T>,
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
            slots: Vec::new(),
            zero_sized: Vec::new(),
        }
    }

    pub(crate) fn store(&mut self, index: usize, value: T) {
        if Self::ZST {
            self.zero_sized.push(value);
            return;
        }
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(value);
    }

    /// All values in push order; `len` children must have stored one.
    pub(crate) fn into_vec(self, len: usize) -> Vec<T> {
        if Self::ZST {
            debug_assert_eq!(self.zero_sized.len(), len);
            return self.zero_sized;
        }
        debug_assert_eq!(self.slots.len(), len);
        self.slots
            .into_iter()
            .map(|slot| slot.expect("trygroup bug: a child finished without a value"))
            .collect()
    }
}
