//! The replay cache: signatures accepted within the window, forgotten once it has passed.

use std::collections::{BTreeSet, HashSet};

/// A signature's 32 bytes.
pub(crate) type Signature = [u8; 32];

/// Why a signature cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It was accepted before and has not expired.
    Replay,
    /// The cache holds `capacity` unexpired signatures.
    Full,
}

/// Accepted signatures with the time each stops being acceptable.
///
/// A signature with timestamp `ts` passes the clock check until `ts + window`, so it is kept
/// until then (not `window` after it was seen: a timestamp may be up to `window` ahead of the
/// server's clock). Bounded: when `capacity` unexpired signatures are held, new ones are
/// refused rather than the cache growing.
#[derive(Debug)]
pub(crate) struct ReplayCache {
    seen: HashSet<Signature>,
    /// `(expires_at, signature)`, ordered so that expired entries are at the front.
    by_expiry: BTreeSet<(u64, Signature)>,
    capacity: usize,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            by_expiry: BTreeSet::new(),
            capacity,
        }
    }

    /// Records `signature`, acceptable until `expires_at` (inclusive), at time `now`.
    pub(crate) fn record(
        &mut self,
        signature: Signature,
        expires_at: u64,
        now: u64,
    ) -> Result<(), Refused> {
        self.forget_expired(now);
        if self.seen.contains(&signature) {
            return Err(Refused::Replay);
        }
        if self.seen.len() >= self.capacity {
            return Err(Refused::Full);
        }
        self.seen.insert(signature);
        self.by_expiry.insert((expires_at, signature));
        Ok(())
    }

    /// Drops every entry whose `expires_at` is before `now`.
    pub(crate) fn forget_expired(&mut self, now: u64) {
        while let Some(&(expires_at, signature)) = self.by_expiry.first() {
            if expires_at >= now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&signature);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_refused_until_expiry_then_forgotten() {
        let mut c = ReplayCache::new(10);
        assert_eq!(c.record([1; 32], 100, 50), Ok(()));
        assert_eq!(c.record([1; 32], 100, 60), Err(Refused::Replay));
        assert_eq!(c.record([1; 32], 100, 100), Err(Refused::Replay));
        c.forget_expired(101);
        assert_eq!(c.len(), 0);
        assert_eq!(c.record([1; 32], 200, 101), Ok(()));
    }

    #[test]
    fn full_cache_refuses_until_entries_expire() {
        let mut c = ReplayCache::new(2);
        assert_eq!(c.record([1; 32], 10, 0), Ok(()));
        assert_eq!(c.record([2; 32], 20, 0), Ok(()));
        assert_eq!(c.record([3; 32], 30, 5), Err(Refused::Full));
        assert_eq!(c.len(), 2);
        // The first entry expires after 10: room for one.
        assert_eq!(c.record([3; 32], 30, 11), Ok(()));
        assert_eq!(c.record([4; 32], 30, 11), Err(Refused::Full));
        assert_eq!(c.capacity(), 2);
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut c = ReplayCache::new(0);
        assert_eq!(c.record([1; 32], 10, 0), Err(Refused::Full));
    }
}
