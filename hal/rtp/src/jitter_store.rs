//! The jitter buffer's storage: a ring of 8 kHz samples addressed by timeline position, with
//! one presence bit per sample.
//!
//! Position `p` lives at index `p mod capacity`. The owner keeps only positions of one
//! window `play .. play + capacity` present (it clears positions as it plays them and
//! refuses writes outside the window), so a set bit is never a stale sample from one lap
//! earlier. Both arrays are allocated once in [`Store::new`].

/// Sample ring with presence bits.
#[derive(Debug, Clone)]
pub struct Store {
    pcm: Box<[i16]>,
    present: Box<[u64]>,
    /// End of the highest position written since the last full clear.
    highest_end: i64,
}

impl Store {
    /// A ring of at least `capacity` samples (rounded up to a multiple of 64).
    pub fn new(capacity: usize) -> Self {
        let words = capacity.div_ceil(64).max(1);
        Self {
            pcm: vec![0; words * 64].into_boxed_slice(),
            present: vec![0; words].into_boxed_slice(),
            highest_end: i64::MIN,
        }
    }

    /// Samples the ring holds.
    pub fn capacity(&self) -> usize {
        self.pcm.len()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.pcm.len() * 2 + self.present.len() * 8
    }

    /// End of the highest position written (conservative: clears do not lower it much).
    pub fn highest_end(&self) -> i64 {
        self.highest_end
    }

    fn index(&self, pos: i64) -> usize {
        pos.rem_euclid(self.pcm.len() as i64) as usize
    }

    /// Whether `pos` holds a sample.
    pub fn is_present(&self, pos: i64) -> bool {
        let i = self.index(pos);
        self.present[i / 64] & (1 << (i % 64)) != 0
    }

    /// The sample at `pos`, if present.
    pub fn sample(&self, pos: i64) -> Option<i16> {
        self.is_present(pos).then(|| self.pcm[self.index(pos)])
    }

    /// Copies positions `pos .. pos + out.len()` into `out` (present or not).
    pub fn read(&self, pos: i64, out: &mut [i16]) {
        let start = self.index(pos);
        let first = out.len().min(self.pcm.len() - start);
        out[..first].copy_from_slice(&self.pcm[start..start + first]);
        let rest = out.len() - first;
        if rest > 0 {
            let wrap = rest.min(self.pcm.len());
            out[first..first + wrap].copy_from_slice(&self.pcm[..wrap]);
        }
    }

    /// Marks positions `from .. to` absent.
    pub fn clear(&mut self, from: i64, to: i64) {
        let len = (to - from).clamp(0, self.pcm.len() as i64) as usize;
        self.set_bits(self.index(from), len, false);
    }

    /// Sets or clears `len` presence bits from index `i`, wrapping around the ring.
    fn set_bits(&mut self, mut i: usize, mut len: usize, on: bool) {
        while len > 0 {
            let word = i / 64;
            let bit = i % 64;
            let n = len.min(64 - bit).min(self.pcm.len() - i);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            if on {
                self.present[word] |= mask;
            } else {
                self.present[word] &= !mask;
            }
            len -= n;
            i = (i + n) % self.pcm.len();
        }
    }

    /// How many positions from `pos` on (at most `max`) share `pos`'s presence.
    pub fn run_len(&self, pos: i64, max: usize) -> usize {
        let present = self.is_present(pos);
        let mut i = self.index(pos);
        let mut run = 0;
        while run < max {
            let bit = i % 64;
            let word = self.present[i / 64];
            // Bits from `bit` on, inverted when counting absent ones.
            let w = if present { !word } else { word } >> bit;
            let avail = (64 - bit).min(self.pcm.len() - i);
            let same = (w.trailing_zeros() as usize).min(avail);
            run += same;
            if same < avail {
                break;
            }
            i = (i + avail) % self.pcm.len();
        }
        run.min(max)
    }

    /// Marks every position absent.
    pub fn clear_all(&mut self) {
        self.present.fill(0);
        self.highest_end = i64::MIN;
    }

    /// Marks positions from `pos` to the end of the window starting at `play` absent.
    pub fn clear_from(&mut self, pos: i64, play: i64) {
        let end = play + self.pcm.len() as i64;
        self.clear(pos.max(play), end);
        self.highest_end = self.highest_end.min(pos.max(play));
    }

    /// Writes the `len` samples of a packet starting at `pos`, clipped to the window
    /// `play .. play + capacity`. `fill(dst, offset)` writes the packet's samples
    /// `offset .. offset + dst.len()` into `dst`.
    pub fn write(
        &mut self,
        play: i64,
        pos: i64,
        len: usize,
        mut fill: impl FnMut(&mut [i16], usize),
    ) {
        let cap = self.pcm.len() as i64;
        let lo = pos.max(play);
        let hi = (pos + len as i64).min(play + cap);
        if lo >= hi {
            return;
        }
        let mut at = lo;
        while at < hi {
            let i = self.index(at);
            let n = ((hi - at) as usize).min(self.pcm.len() - i);
            fill(&mut self.pcm[i..i + n], (at - pos) as usize);
            self.set_bits(i, n, true);
            at += n as i64;
        }
        self.highest_end = self.highest_end.max(hi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_wrap_and_clip_to_the_window() {
        let mut s = Store::new(100);
        assert_eq!(s.capacity(), 128);
        // Window 100..228; a packet at 200..260 is clipped to 200..228.
        s.write(100, 200, 60, |dst, off| {
            for (k, d) in dst.iter_mut().enumerate() {
                *d = (off + k) as i16;
            }
        });
        assert_eq!(s.sample(200), Some(0));
        assert_eq!(s.sample(227), Some(27));
        assert!(!s.is_present(228));
        // Positions before the window are refused.
        let mut called = false;
        s.write(100, 50, 40, |_, _| called = true);
        assert!(!called);
        // A wrap: 250..270 across index 127/0 in window 150..278.
        s.clear_all();
        s.write(150, 250, 20, |dst, off| {
            for (k, d) in dst.iter_mut().enumerate() {
                *d = (off + k) as i16 + 1000;
            }
        });
        let mut out = [0i16; 20];
        s.read(250, &mut out);
        assert_eq!(out[0], 1000);
        assert_eq!(out[19], 1019);
        s.clear(250, 260);
        assert!(!s.is_present(259));
        assert_eq!(s.sample(260), Some(1010));
        assert_eq!(s.highest_end(), 270);
        s.clear_from(265, 150);
        assert!(!s.is_present(265));
        assert!(s.is_present(264));
        assert_eq!(s.highest_end(), 265);
        // Runs, across words and the wrap.
        s.clear_all();
        s.write(50, 60, 100, |dst, _| dst.fill(1)); // indices 60..128, 0..32
        assert_eq!(s.run_len(60, 500), 100);
        assert_eq!(s.run_len(60, 30), 30);
        assert_eq!(s.run_len(160, 500), 28);
        assert_eq!(s.run_len(40, 500), 20);
        s.clear_all();
        s.write(100, 120, 20, |dst, _| dst.fill(1)); // indices 120..128, 0..12
        assert_eq!(s.run_len(120, 500), 20);
        assert_eq!(s.run_len(140, 500), 108);
        // Negative positions work too.
        s.clear_all();
        s.write(-100, -10, 5, |dst, _| dst.fill(3));
        assert_eq!(s.sample(-8), Some(3));
    }
}
