//! The request path's bounded memory of what was recently recorded: a fixed-size,
//! direct-mapped table of 64-bit hashes. A hit means "recorded (or queued) lately by
//! this process"; a new hash evicts whatever shared its slot. Lock-free: one atomic
//! load to ask, one store to remember. The store's unique key on the consent state is
//! what makes deduplication exact across restarts and replicas; this only spares it
//! (and the queue) the requests that repeat a state.

use std::sync::atomic::{AtomicU64, Ordering};

pub struct RecentSet {
    slots: Box<[AtomicU64]>,
    mask: usize,
}

impl RecentSet {
    /// A table of `2^bits` slots (8 bytes each).
    pub fn new(bits: u32) -> Self {
        let len = 1usize << bits;
        RecentSet {
            slots: (0..len).map(|_| AtomicU64::new(0)).collect(),
            mask: len - 1,
        }
    }

    fn slot(&self, hash: u64) -> (&AtomicU64, u64) {
        // 0 marks an empty slot.
        let hash = hash.max(1);
        // The high bits pick the slot: foldhash mixes them well.
        (&self.slots[(hash >> 32) as usize & self.mask], hash)
    }

    pub fn contains(&self, hash: u64) -> bool {
        let (slot, hash) = self.slot(hash);
        slot.load(Ordering::Relaxed) == hash
    }

    pub fn insert(&self, hash: u64) {
        let (slot, hash) = self.slot(hash);
        slot.store(hash, Ordering::Relaxed);
    }

    /// Forgets `hash` if it is still there (a record that could not be written, so
    /// that a later request tries again).
    pub fn remove(&self, hash: u64) {
        let (slot, hash) = self.slot(hash);
        let _ = slot.compare_exchange(hash, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_forgets_and_evicts() {
        let set = RecentSet::new(4);
        let a = 0x0000_0001_0000_0001;
        assert!(!set.contains(a));
        set.insert(a);
        assert!(set.contains(a));
        set.remove(a);
        assert!(!set.contains(a));
        set.insert(a);
        // Same slot (high bits equal modulo 16), another hash: evicts.
        let b = 0x0000_0011_0000_0002;
        set.insert(b);
        assert!(set.contains(b) && !set.contains(a));
        set.remove(a);
        assert!(
            set.contains(b),
            "removing an evicted hash leaves the slot alone"
        );
    }
}
