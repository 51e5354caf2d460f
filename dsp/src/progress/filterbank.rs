//! Analysis front end of the call-progress detector: a few complex-demodulated channels at
//! 500 Hz, and on them a sliding 50 ms Hann-windowed DFT on a 10 Hz grid.
//!
//! Every 10 ms hop ([`HOP`] samples) the bank measures the last 50 ms ([`WINDOW`] samples,
//! Hann taper, bins 20 Hz apart) at the bins of each band, 10 Hz apart, plus the window's
//! Hann-weighted energy. What it measures is what a Hann-windowed DFT of those 50 ms would
//! give, within 0.03 dB for a sine anywhere in a band (a unit test checks it against the
//! direct transform); the window is that Hann window smoothed by the channel filter (46
//! samples) and ends [`LAG`] samples (≈ 1 ms) before the hop.
//!
//! * **Channels.** Bands on the same 10 Hz grid whose bins (guard bins included) fit within
//!   [`MERGE_SLOTS`] bins share a *channel*: a complex band-pass filter centred on the
//!   channel, `u[t] = Σ h[i]·e^{jω_c i}·x[t−i]`, evaluated every [`DECIM`]th sample only
//!   (500 Hz). `h` is three cascaded 16-sample boxcars (a third-order CIC response): its
//!   triple zeros at every multiple of 500 Hz keep what folds onto a channel's bins ≥ 37 dB
//!   down on the built-in plans' channels (≥ 44 dB on their measured bins; measured: ≥ 45 dB
//!   on every band of the US plan). `h` is symmetric, so taps `i` and `45 − i` share one
//!   multiply-add per output and channel part. A phase-continuous oscillator at the channel's
//!   middle bin then brings it to baseband. The built-in plans need 6 to 8 channels (US: 440
//!   and 480 Hz share one; UK: 350 with 400 Hz, 440 with 450 Hz), which run side by side in
//!   the lanes of one 8-wide vector: an input sample costs about 3 multiply-adds per channel,
//!   where the Goertzel bank this replaces took one recursion step per bin (135 for the US
//!   plan).
//! * **Bins.** At 500 Hz the window holds 25 samples. Bins 10 Hz apart turn a whole number of
//!   times every 50 low-rate samples, so each bin's rectangular DFT is referred to absolute
//!   time through one shared table of 50th roots of unity and kept as a running sum: every
//!   hop adds its 5 new samples and removes the 5 that left the window. Those are 25 samples
//!   older, which at bin `j` is a factor `W^{25j} = (−1)^j`, so one pass over
//!   `v_new ∓ v_old` does both (5 complex multiply-adds per bin). Bins `±j` from the middle
//!   one share their products (conjugate roots, same parity). Every [`EXACT_EVERY`] hops
//!   (1 s) the sums are recomputed from the window's 25 samples, so float rounding never
//!   piles up (a test shows digital silence reading exactly 0 after 30 s of loud noise).
//!   Overlapping bands of a channel share their bins. The channel keeps only the window's
//!   low-rate samples and one sum per bin: about 4 KB for the built-in plans, where five
//!   hops of per-bin partial sums took 13 KB.
//! * **Hann taper.** Applied in the frequency domain from the bins ±20 Hz (±2 grid steps),
//!   `H(k) = ½A(k) − ¼βA(k−2) − ¼β*A(k+2)` with `β` the window's start phase; each band
//!   carries 2 guard bins on each side for this. The taper matters: with a rectangular
//!   window two components 2.5 bins apart (UK ringback 400+450 Hz) leak into each other at
//!   −18 dB and, depending on their relative phase, the tone-vs-rest ratio swings by ±1.5 dB;
//!   the Hann sidelobe there is −32 dB.
//! * **Peaks.** Every bin sees a sine through the same filter gain, so local maxima are
//!   found on the power as it comes out, where the Hann window puts them. The filter's droop
//!   (up to 1.7 dB at the outermost bins of the built-in channels) is then divided out at
//!   the sine's own frequency, placed by a parabola through the peak and its neighbours; as
//!   this correction is bounded ([`FilterBank::refine_bound`]), the detector asks for it only
//!   for the tone classes that could still pass.
//! * **Energy.** `x²` goes through the same filter `h`, the same decimation and the same
//!   window, so a steady sine's bin power equals the window's weighted energy and a sine
//!   filling part of the window reads the weighted fraction filled (≤ 1). Weighting by `w`
//!   rather than `w²` matters: two tones beat in `x²` at their difference frequency, and
//!   `w²` has spectral lines at 2 bins that turn the 40 Hz beat of 440+480 Hz into a ±16 %
//!   swing of the energy; `w`'s transform is 32 dB down by 2.5 bins.
//! * Power is scaled so that a sine of peak `A` on a bin reads `A²/2`, like the weighted
//!   energy of the same sine; a sine between two grid bins loses at most 0.35 dB.
//! * Samples are only buffered until a hop is complete; the hop is then analysed in one
//!   pass, so results never depend on how the input was cut. On x86-64 CPUs with AVX2 and
//!   FMA (detected at run time) that pass runs in a build of the same code for those
//!   features, about 1.8 times as fast; results can differ from the portable build in the
//!   last bits of a float.

use super::SAMPLE_RATE;
use crate::simd_available;
use std::sync::Arc;

/// Samples per hop (10 ms).
pub(crate) const HOP: usize = 80;
/// Hops per analysis window.
pub(crate) const WINDOW_HOPS: usize = 5;
/// Samples per analysis window (50 ms).
pub(crate) const WINDOW: usize = HOP * WINDOW_HOPS;
/// Decimation factor of the channels: 8000 → 500 Hz.
const DECIM: usize = 16;
/// Low-rate samples per hop.
const LOW_PER_HOP: usize = HOP / DECIM;
/// Low-rate samples per window.
const LOW_WINDOW: usize = WINDOW / DECIM;
/// Guard bins on each side of a band: one window bin (20 Hz) on the 10 Hz grid.
const GUARD: usize = 2;
/// Grid spacing of the bins, Hz: half the window's bin spacing, so the Hann taper's
/// neighbours one window bin (20 Hz) away are [`GUARD`] steps away.
const BIN_STEP_HZ: f32 = SAMPLE_RATE as f32 / WINDOW as f32 / GUARD as f32;
/// Low-rate samples after which every bin of the 10 Hz grid has turned a whole number of
/// times (10 Hz × 50 / 500 Hz = 1).
const PHASE_PERIOD: usize = (SAMPLE_RATE as usize / DECIM) / 10;
/// Hops in [`PHASE_PERIOD`].
const PERIOD_HOPS: usize = PHASE_PERIOD / LOW_PER_HOP;
/// Hops between exact recomputations of the running window DFTs (1 s): the rounding error
/// they gather in between stays below 10⁻⁵ of the loudest window's (−100 dB).
const EXACT_EVERY: usize = 100;
/// Taps of the channel filter: three cascaded 16-sample boxcars.
const TAPS: usize = 3 * (DECIM - 1) + 1;
/// [`TAPS`] rounded up to whole vectors (the energy filter's dot products).
const TAPS_PADDED: usize = TAPS.div_ceil(LANES) * LANES;
/// The filter is symmetric: taps `i` and `TAPS − 1 − i` are applied together.
const PAIRS: usize = TAPS / 2;
/// [`PAIRS`] rounded up to whole vectors.
const PAIRS_PADDED: usize = PAIRS.div_ceil(LANES) * LANES;
/// Samples of the previous hop the filter still needs.
const HIST: usize = TAPS - DECIM;
/// Sample buffer: history, one hop, and zeros for the padded taps.
const XBUF: usize = DECIM * (LOW_PER_HOP - 1) + TAPS_PADDED;
/// Samples by which the effective analysis window ends before the hop end: the filter's
/// delay minus the position of the low-rate sample inside its 16-sample block.
pub(crate) const LAG: f32 = (TAPS - 1) as f32 / 2.0 - (DECIM - 1) as f32;
/// Vector width the loops are written for (one AVX register of `f32`): channels side by
/// side.
const LANES: usize = 8;
type Lanes = [f32; LANES];
/// Capacity of the bank, in channels.
const MAX_CHANNELS: usize = 2 * LANES;
/// Channel blocks (of [`LANES`] channels each).
const CH_BLOCKS: usize = MAX_CHANNELS / LANES;
/// Most bins of one channel.
const CH_SLOTS: usize = 32;
/// Most bins of a channel that holds several bands (±115 Hz: what folds onto its outermost
/// guard bins is ≥ 33 dB down).
const MERGE_SLOTS: usize = 24;
/// Capacity of the bank, in rows of bins (one bin of each channel of a block per row).
const MAX_ROWS: usize = 40;
/// Low bits of a peak's power (as `f32` bits) that hold its row instead.
const ROW_BITS: u32 = 6;
/// Those bits.
const ROW_MASK: u32 = (1 << ROW_BITS) - 1;
/// Capacity of the bank, in bins (guard bins, and the rows of a block that its shorter
/// channels don't use, included).
pub(crate) const MAX_BINS: usize = MAX_ROWS * LANES;
/// Capacity of the bank, in bands.
pub(crate) const MAX_BANDS: usize = 24;

const _: () = assert!(HOP.is_multiple_of(DECIM) && WINDOW.is_multiple_of(DECIM));
const _: () = assert!(PHASE_PERIOD * DECIM * 10 == SAMPLE_RATE as usize);
const _: () =
    assert!(PHASE_PERIOD.is_multiple_of(LOW_PER_HOP) && PHASE_PERIOD.is_multiple_of(LOW_WINDOW));
const _: () = assert!(XBUF >= HIST + HOP && CH_SLOTS >= MERGE_SLOTS && MAX_ROWS >= CH_SLOTS);
const _: () = assert!(TAPS.is_multiple_of(2) && PAIRS_PADDED < TAPS);
const _: () = assert!(MAX_ROWS < 1 << ROW_BITS);

/// The channel filter `h`: three cascaded 16-sample boxcars, unit gain at DC, reversed and
/// padded with zeros to [`TAPS_PADDED`] (`H_REV[k]` weighs the sample `TAPS − 1 − k` before
/// the output's).
static H_REV: [f32; TAPS_PADDED] = cic3_reversed();

const fn cic3_reversed() -> [f32; TAPS_PADDED] {
    let mut c = [0u32; TAPS];
    let mut a = 0;
    while a < DECIM {
        let mut b = 0;
        while b < DECIM {
            let mut d = 0;
            while d < DECIM {
                c[a + b + d] += 1;
                d += 1;
            }
            b += 1;
        }
        a += 1;
    }
    let mut h = [0f32; TAPS_PADDED];
    let mut k = 0;
    while k < TAPS {
        h[k] = c[TAPS - 1 - k] as f32 / (DECIM * DECIM * DECIM) as f32;
        k += 1;
    }
    h
}

/// `(cos, sin)` of `2π·k/n`, by Taylor series (usable in constants).
const fn cos_sin(k: usize, n: usize) -> (f64, f64) {
    let mut x = core::f64::consts::TAU * (k % n) as f64 / n as f64;
    if x > core::f64::consts::PI {
        x -= core::f64::consts::TAU;
    }
    let (mut c, mut s) = (0.0, 0.0);
    let (mut ct, mut st) = (1.0, x);
    let mut i = 0;
    while i < 30 {
        c += ct;
        s += st;
        ct = -ct * x * x / ((2 * i + 1) * (2 * i + 2)) as f64;
        st = -st * x * x / ((2 * i + 2) * (2 * i + 3)) as f64;
        i += 1;
    }
    (c, s)
}

/// `W^{j·r}` with `W = e^{−j2π/50}`, for `r` < [`PHASE_PERIOD`] (low-rate sample index) and
/// `j` < [`CH_SLOTS`] (a bin's offset from its channel's middle bin, 10 Hz steps).
struct Twiddles {
    re: [[f32; CH_SLOTS]; PHASE_PERIOD],
    im: [[f32; CH_SLOTS]; PHASE_PERIOD],
}

static TWIDDLES: Twiddles = twiddles();

const fn twiddles() -> Twiddles {
    let mut t = Twiddles {
        re: [[0.0; CH_SLOTS]; PHASE_PERIOD],
        im: [[0.0; CH_SLOTS]; PHASE_PERIOD],
    };
    let mut r = 0;
    while r < PHASE_PERIOD {
        let mut j = 0;
        while j < CH_SLOTS {
            let (c, s) = cos_sin(j * r, PHASE_PERIOD);
            t.re[r][j] = c as f32;
            t.im[r][j] = -s as f32;
            j += 1;
        }
        r += 1;
    }
    t
}

/// `W^{2r} = e^{−j2π·r/25}`: the Hann window's (and the weighted energy's) phase at low-rate
/// sample `r`.
fn hann_phase(r: usize) -> (f32, f32) {
    let r = r % PHASE_PERIOD;
    (TWIDDLES.re[r][2], TWIDDLES.im[r][2])
}

/// A band: `len` measured bins 10 Hz apart from `lo` Hz, plus [`GUARD`] bins on each side,
/// in lane `lane` of rows `row..row + len` (the first measured bin's row, bank-wide).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Band {
    lo: f32,
    len: usize,
    lane: usize,
    row: usize,
}

/// Bands whose peaks are searched together: at most one per lane, the band in lane `l`
/// (index `band[l]`, or [`NO_BAND`]) spanning rows `lo[l]..hi[l]` (its interior bins).
#[derive(Debug, Clone, PartialEq)]
struct Pass {
    rows: core::ops::Range<usize>,
    lo: [i32; LANES],
    hi: [i32; LANES],
    band: [u8; LANES],
}

/// No band in this lane of a [`Pass`].
const NO_BAND: u8 = u8::MAX;

/// A block of up to [`LANES`] channels, side by side in rows `row..row + rows`, with
/// `rows = 2·half + 1`; each channel's middle bin (its oscillator's frequency) is in row
/// `row + half`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Block {
    row: usize,
    rows: usize,
    half: usize,
}

/// The plan's half of the bank: where every band sits, and every coefficient. Built once
/// per detector configuration and shared, read-only, by every clone of the bank (a media
/// thread's channels on one plan read one copy, which stays in cache).
#[derive(Debug, Clone)]
struct Tables {
    bands: heapless::Vec<Band, MAX_BANDS>,
    blocks: heapless::Vec<Block, CH_BLOCKS>,
    passes: heapless::Vec<Pass, MAX_BANDS>,
    /// Distinct bins in use.
    bins: usize,
    /// Channel filter `h[i]·e^{jω_c i}`, folded: with `c = (TAPS − 1)/2` and `φ = ω_c(c − i)`,
    /// taps `i` and `TAPS − 1 − i` give `e^{jω_c c}·h[i]·(cos φ·(x_i + x_j) + j sin φ·(x_j − x_i))`
    /// (`x_i` the sample `i` before the output, `x_j` the one `TAPS − 1 − i` before); these
    /// are `h[i]·cos φ` and `h[i]·sin φ` (zero past [`PAIRS`]). The factor `e^{jω_c c}` is
    /// in the oscillator's start value.
    pair_cos: [[Lanes; PAIRS_PADDED]; CH_BLOCKS],
    pair_sin: [[Lanes; PAIRS_PADDED]; CH_BLOCKS],
    /// Oscillator value after `reset`: `e^{jω_c c}`.
    osc_start_re: [Lanes; CH_BLOCKS],
    osc_start_im: [Lanes; CH_BLOCKS],
    /// Oscillator step per low-rate sample, `e^{−j2π·f·16/8000}` (`f` the middle bin).
    step_re: [Lanes; CH_BLOCKS],
    step_im: [Lanes; CH_BLOCKS],
    /// Per bin: frequency, Hz, and power scale (Hann normalisation and the filter's droop at
    /// the bin).
    freq: [Lanes; MAX_ROWS],
    gain: [Lanes; MAX_ROWS],
    /// See [`refine_bound`](FilterBank::refine_bound).
    refine_bound: f32,
}

/// The filter bank. Sized at construction; `push` and `measure` never allocate.
///
/// Channel `c` runs in lane `c % 8` of block `c / 8`: its middle bin (at the oscillator's
/// frequency) is in the block's row `half`, the bin `j` steps (10 Hz each) above it in row
/// `half + j`.
///
/// The per-channel state is what the signal needs (the window's low-rate samples, one
/// running DFT per bin, the sample buffer: about 4.5 KB touched per hop for the built-in
/// plans); the plan's coefficients are in [`Tables`], shared by [`Clone`].
#[derive(Debug, Clone)]
pub(crate) struct FilterBank {
    t: Arc<Tables>,
    /// Run the hop analysis with AVX2 + FMA (detected at construction).
    simd: bool,

    /// `HIST` samples of the previous hop, then this hop, then zeros.
    x: [f32; XBUF],
    fill: usize,
    /// Hops since reset, modulo 2 windows ([`PHASE_PERIOD`] low-rate samples).
    phase: usize,
    /// Hops since the running sums were last recomputed from the window's samples.
    since_exact: usize,
    /// Channel oscillators.
    osc_re: [Lanes; CH_BLOCKS],
    osc_im: [Lanes; CH_BLOCKS],
    /// The window's low-rate channel samples, per block, as a ring of hops (slot = hop
    /// mod 5).
    v_re: [[[Lanes; LOW_PER_HOP]; WINDOW_HOPS]; CH_BLOCKS],
    v_im: [[[Lanes; LOW_PER_HOP]; WINDOW_HOPS]; CH_BLOCKS],
    /// Every bin's rectangular DFT over the window (absolute phase), kept by adding the
    /// hop's samples and removing those that left the window.
    sum_re: [Lanes; MAX_ROWS],
    sum_im: [Lanes; MAX_ROWS],
    /// Per hop: `Σe` and `Σe·e^{j2πm/25}` of the low-passed `x²`.
    energy: [[f64; 3]; WINDOW_HOPS],
    /// Each band's strongest interior peak over the last window: power and row (0 if none).
    band_power: [f32; MAX_BANDS],
    band_row: [u8; MAX_BANDS],
    /// The last window's start phase `β` (see the Hann taper in the module docs).
    beta: (f32, f32),
    /// The last window's Hann-weighted mean square.
    weighted: f32,
}

#[inline(always)]
fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

impl FilterBank {
    /// An empty bank.
    pub(crate) fn new() -> Self {
        let t = Tables {
            bands: heapless::Vec::new(),
            blocks: heapless::Vec::new(),
            passes: heapless::Vec::new(),
            bins: 0,
            pair_cos: [[[0.0; LANES]; PAIRS_PADDED]; CH_BLOCKS],
            pair_sin: [[[0.0; LANES]; PAIRS_PADDED]; CH_BLOCKS],
            osc_start_re: [[1.0; LANES]; CH_BLOCKS],
            osc_start_im: [[0.0; LANES]; CH_BLOCKS],
            step_re: [[1.0; LANES]; CH_BLOCKS],
            step_im: [[0.0; LANES]; CH_BLOCKS],
            freq: [[0.0; LANES]; MAX_ROWS],
            gain: [[0.0; LANES]; MAX_ROWS],
            refine_bound: 1.0,
        };
        Self {
            t: Arc::new(t),
            simd: simd_available(),
            x: [0.0; XBUF],
            fill: 0,
            phase: 0,
            since_exact: 0,
            osc_re: [[1.0; LANES]; CH_BLOCKS],
            osc_im: [[0.0; LANES]; CH_BLOCKS],
            v_re: [[[[0.0; LANES]; LOW_PER_HOP]; WINDOW_HOPS]; CH_BLOCKS],
            v_im: [[[[0.0; LANES]; LOW_PER_HOP]; WINDOW_HOPS]; CH_BLOCKS],
            sum_re: [[0.0; LANES]; MAX_ROWS],
            sum_im: [[0.0; LANES]; MAX_ROWS],
            energy: [[0.0; 3]; WINDOW_HOPS],
            band_power: [0.0; MAX_BANDS],
            band_row: [0; MAX_BANDS],
            beta: (1.0, 0.0),
            weighted: 0.0,
        }
    }

    /// Adds a band of bins spanning `lo_hz..=hi_hz`; returns its index, or `None` when the
    /// bank is full. Construction time only (signal state is cleared).
    pub(crate) fn add_band(&mut self, lo_hz: f32, hi_hz: f32) -> Option<usize> {
        let span = (hi_hz - lo_hz).max(0.0);
        // Centre the grid on the band.
        let len = (span / BIN_STEP_HZ).ceil() as usize + 1;
        let lo = (lo_hz + hi_hz) / 2.0 - BIN_STEP_HZ * (len - 1) as f32 / 2.0;
        if !lo.is_finite() || len + 2 * GUARD > CH_SLOTS {
            return None;
        }
        let band = Band {
            lo,
            len,
            lane: 0,
            row: 0,
        };
        let t = Arc::make_mut(&mut self.t);
        t.bands.push(band).ok()?;
        if !t.layout() {
            t.bands.pop();
            return None;
        }
        let index = t.bands.len() - 1;
        self.reset();
        Some(index)
    }
}

impl Tables {
    /// Groups the bands into channels and computes every coefficient; false (and nothing
    /// changed) when they don't fit.
    fn layout(&mut self) -> bool {
        let step = f64::from(BIN_STEP_HZ);
        let mut order: heapless::Vec<usize, MAX_BANDS> = (0..self.bands.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            self.bands[a]
                .lo
                .total_cmp(&self.bands[b].lo)
                .then(a.cmp(&b))
        });
        // Bands on one 10 Hz grid whose bins fit within MERGE_SLOTS share a channel.
        // (f0, slots) per channel; (channel, bin of the first measured bin) per band.
        let mut chans: heapless::Vec<(f64, usize), MAX_CHANNELS> = heapless::Vec::new();
        let mut place = [(0usize, 0usize); MAX_BANDS];
        for &b in &order {
            let band = self.bands[b];
            let start = f64::from(band.lo) - step * GUARD as f64;
            let n = band.len + 2 * GUARD;
            let merged = chans.iter().position(|&(f0, slots)| {
                let off = (start - f0) / step;
                let j = off.round();
                (off - j).abs() < 1e-3 && j >= 0.0 && (j as usize + n).max(slots) <= MERGE_SLOTS
            });
            match merged {
                Some(c) => {
                    let (f0, slots) = chans[c];
                    let j = ((start - f0) / step).round() as usize;
                    chans[c].1 = slots.max(j + n);
                    place[b] = (c, j + GUARD);
                }
                None => {
                    if chans.push((start, n)).is_err() {
                        return false;
                    }
                    place[b] = (chans.len() - 1, GUARD);
                }
            }
        }
        let mut blocks: heapless::Vec<Block, CH_BLOCKS> = heapless::Vec::new();
        let mut row = 0;
        for chunk in chans.chunks(LANES) {
            // Bins above a channel's middle one (at least as many as below it).
            let half = chunk.iter().map(|&(_, n)| n / 2).max().unwrap_or(0);
            let rows = 2 * half + 1;
            if blocks.push(Block { row, rows, half }).is_err() {
                return false;
            }
            row += rows;
        }
        if row * LANES > MAX_BINS {
            return false;
        }
        // Each band's row, and its peak search: in the first pass of its block with its lane
        // free (at most one pass per band, so they always fit).
        let mut rows = [0usize; MAX_BANDS];
        let mut passes: heapless::Vec<(usize, Pass), MAX_BANDS> = heapless::Vec::new();
        for (b, band) in self.bands.iter().enumerate() {
            let (c, j) = place[b];
            let (blk, lane) = (c / LANES, c % LANES);
            let block = blocks[blk];
            rows[b] = block.row + block.half + j - (chans[c].1 - 1) / 2;
            let (lo, hi) = (rows[b] + 1, (rows[b] + band.len).saturating_sub(1));
            let free = passes
                .iter()
                .position(|(k, p)| *k == blk && p.band[lane] == NO_BAND);
            let i = match free {
                Some(i) => i,
                None => {
                    let empty = Pass {
                        rows: lo..hi,
                        lo: [0; LANES],
                        hi: [0; LANES],
                        band: [NO_BAND; LANES],
                    };
                    if passes.push((blk, empty)).is_err() {
                        return false;
                    }
                    passes.len() - 1
                }
            };
            let p = &mut passes[i].1;
            p.rows = p.rows.start.min(lo)..p.rows.end.max(hi);
            p.lo[lane] = lo as i32;
            p.hi[lane] = hi as i32;
            p.band[lane] = b as u8;
        }

        // Commit.
        for (b, band) in self.bands.iter_mut().enumerate() {
            band.lane = place[b].0 % LANES;
            band.row = rows[b];
        }
        self.passes = passes.into_iter().map(|(_, p)| p).collect();
        self.blocks = blocks;
        self.bins = chans.iter().map(|&(_, n)| n).sum();
        self.pair_cos = [[[0.0; LANES]; PAIRS_PADDED]; CH_BLOCKS];
        self.pair_sin = [[[0.0; LANES]; PAIRS_PADDED]; CH_BLOCKS];
        self.osc_start_re = [[1.0; LANES]; CH_BLOCKS];
        self.osc_start_im = [[0.0; LANES]; CH_BLOCKS];
        self.step_re = [[1.0; LANES]; CH_BLOCKS];
        self.step_im = [[0.0; LANES]; CH_BLOCKS];
        self.freq = [[0.0; LANES]; MAX_ROWS];
        self.gain = [[0.0; LANES]; MAX_ROWS];
        let fs = f64::from(SAMPLE_RATE);
        let mid_tap = (TAPS - 1) as f64 / 2.0;
        for (c, &(f0, slots)) in chans.iter().enumerate() {
            let (blk, lane) = (c / LANES, c % LANES);
            let block = self.blocks[blk];
            // The filter is centred on the channel.
            let f_mid = f0 + step * (slots - 1) as f64 / 2.0;
            let w = core::f64::consts::TAU * f_mid / fs;
            for i in 0..PAIRS {
                let h = f64::from(H_REV[TAPS - 1 - i]);
                let phi = w * (mid_tap - i as f64);
                self.pair_cos[blk][i][lane] = (h * phi.cos()) as f32;
                self.pair_sin[blk][i][lane] = (h * phi.sin()) as f32;
            }
            self.osc_start_re[blk][lane] = (w * mid_tap).cos() as f32;
            self.osc_start_im[blk][lane] = (w * mid_tap).sin() as f32;
            // The oscillator sits on the middle bin, in the block's middle row.
            let f_osc = f0 + step * ((slots - 1) / 2) as f64;
            let w0 = core::f64::consts::TAU * f_osc * DECIM as f64 / fs;
            self.step_re[blk][lane] = w0.cos() as f32;
            self.step_im[blk][lane] = -w0.sin() as f32;
            // Every row of the block is a real bin of the channel (unused past its bands).
            for r in 0..block.rows {
                let f = f_osc + step * (r as f64 - block.half as f64);
                self.freq[block.row + r][lane] = f as f32;
                // Σw = 25/2 for the 25-point Hann: a sine of peak A on a bin gives
                // |2H| = A·25/2·|Ĥ|, with Ĥ the filter's response at the bin.
                let droop = filter_response(core::f64::consts::TAU * (f - f_mid) / fs);
                self.gain[block.row + r][lane] =
                    (2.0 / (LOW_WINDOW * LOW_WINDOW) as f64 / droop) as f32;
            }
        }
        // How much the correction of a peak's gain can raise it (on a fine grid of offsets,
        // with margin for the float rounding of the two values compared).
        let mut bound = 1f32;
        for block in &self.blocks {
            for k in block.row + 1..block.row + block.rows.saturating_sub(1) {
                for l in 0..LANES {
                    let (g0, g1, g2) = (self.gain[k - 1][l], self.gain[k][l], self.gain[k + 1][l]);
                    for i in 0..=20 {
                        let d = i as f32 / 20.0 - 0.5;
                        if g1 > 0.0 {
                            bound = bound.max(interpolate_gain(d, g0, g1, g2) / g1);
                        }
                    }
                }
            }
        }
        self.refine_bound = bound * 1.01;
        true
    }
}

impl FilterBank {
    /// Chooses the AVX2 + FMA build (if the CPU has it) or the portable one.
    #[cfg(test)]
    pub(crate) fn set_simd(&mut self, on: bool) {
        self.simd = on && simd_available();
    }

    /// Number of distinct analysis bins in use (guard bins included, bins shared by
    /// overlapping bands counted once).
    pub(crate) fn bins(&self) -> usize {
        self.t.bins
    }

    /// Clears all signal state (keeps the bands).
    pub(crate) fn reset(&mut self) {
        self.x = [0.0; XBUF];
        self.fill = 0;
        self.phase = 0;
        self.since_exact = 0;
        self.osc_re = self.t.osc_start_re;
        self.osc_im = self.t.osc_start_im;
        self.v_re = [[[[0.0; LANES]; LOW_PER_HOP]; WINDOW_HOPS]; CH_BLOCKS];
        self.v_im = [[[[0.0; LANES]; LOW_PER_HOP]; WINDOW_HOPS]; CH_BLOCKS];
        self.sum_re = [[0.0; LANES]; MAX_ROWS];
        self.sum_im = [[0.0; LANES]; MAX_ROWS];
        self.energy = [[0.0; 3]; WINDOW_HOPS];
        self.band_power = [0.0; MAX_BANDS];
        self.band_row = [0; MAX_BANDS];
        self.beta = (1.0, 0.0);
        self.weighted = 0.0;
    }

    /// Samples still needed to complete the current hop.
    pub(crate) fn room(&self) -> usize {
        HOP - self.fill
    }

    /// Feeds `x` (at most [`room`](Self::room) samples); true when it completed a hop (a
    /// new window is ready to measure).
    pub(crate) fn push(&mut self, x: &[i16]) -> bool {
        let x = &x[..x.len().min(self.room())];
        for (d, &s) in self.x[HIST + self.fill..].iter_mut().zip(x) {
            *d = f32::from(s);
        }
        self.fill += x.len();
        if self.fill < HOP {
            return false;
        }
        self.fill = 0;
        self.analyse();
        true
    }

    #[allow(unsafe_code)] // the progress detector's one unsafe call, see the SAFETY note
    fn analyse(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is set in `new` only when the CPU reports AVX2 and FMA, the
            // features `analyse_avx2_fma` is compiled for.
            unsafe { self.analyse_avx2_fma() };
            return;
        }
        self.analyse_hop::<false>();
    }

    /// The hop analysis compiled for AVX2 + FMA: a vector of [`LANES`] fills one register,
    /// one fused multiply-add per lane and step.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn analyse_avx2_fma(&mut self) {
        self.analyse_hop::<true>();
    }

    /// Analyses the hop just completed: filters and decimates every channel and `x²`,
    /// updates every bin's window DFT, and measures every band's strongest Hann bin and the
    /// weighted energy of the window ending now. Written as plain loops over fixed vectors
    /// of [`LANES`] channels so that the compiler vectorises them (SSE2 here, AVX2 in the
    /// FMA build).
    #[inline(always)]
    fn analyse_hop<const FMA: bool>(&mut self) {
        let t = &*self.t;
        let ring = self.phase % WINDOW_HOPS;
        // Low-rate index (mod PHASE_PERIOD) of this hop's first sample and of the window's.
        let row0 = LOW_PER_HOP * self.phase;
        let win0 = (row0 + PHASE_PERIOD + LOW_PER_HOP - LOW_WINDOW) % PHASE_PERIOD;
        // β = e^{−j2π·m0/25}, m0 the window's first low-rate sample.
        let (br, bi) = hann_phase(win0);

        self.energy[ring] = energy_partials::<FMA>(&self.x, row0);
        let (mut s0, mut s1r, mut s1i) = (0f64, 0f64, 0f64);
        for h in &self.energy {
            s0 += h[0];
            s1r += h[1];
            s1i += h[2];
        }
        // Σw·e/Σw with w = ½ − ½cos(2π(m − m0)/25).
        let weighted = 0.5 * s0 - 0.5 * (f64::from(br) * s1r - f64::from(bi) * s1i);
        self.weighted = (weighted * (2.0 / LOW_WINDOW as f64)).max(0.0) as f32;

        // Sample pairs of the folded filter: for low-rate sample m, the sample i before it
        // and the one TAPS − 1 − i before it.
        let mut sum = [[0f32; PAIRS_PADDED]; LOW_PER_HOP];
        let mut dif = [[0f32; PAIRS_PADDED]; LOW_PER_HOP];
        for m in 0..LOW_PER_HOP {
            let late = &self.x[DECIM * m + TAPS - PAIRS_PADDED..DECIM * m + TAPS];
            let early = &self.x[DECIM * m..DECIM * m + PAIRS_PADDED];
            for ((s, d), (&a, &z)) in sum[m]
                .iter_mut()
                .zip(dif[m].iter_mut())
                .zip(early.iter().zip(late.iter().rev()))
            {
                *s = a + z;
                *d = a - z;
            }
        }
        // Now and then the running sums are recomputed from the window's samples, so that
        // float rounding can't pile up in them.
        let exact = self.since_exact + 1 >= EXACT_EVERY;
        self.since_exact = if exact { 0 } else { self.since_exact + 1 };
        let mut peak = [[0u32; LANES]; MAX_ROWS];
        for b in 0..t.blocks.len() {
            let (v_re, v_im) =
                demodulate::<FMA>(t, b, (&mut self.osc_re[b], &mut self.osc_im[b]), &sum, &dif);
            let Block { row, rows, half } = t.blocks[b];
            let rows = rows.min(CH_SLOTS + 1).min(MAX_ROWS - row);
            let half = half.min(rows / 2);
            // The samples leaving the window are 25 low-rate samples older than the ones
            // entering it: at bin j their phase reference differs by W^{25j} = (−1)^j.
            let (old_re, old_im) = (&self.v_re[b][ring], &self.v_im[b][ring]);
            let even: ([Lanes; LOW_PER_HOP], [Lanes; LOW_PER_HOP]) = (
                core::array::from_fn(|m| core::array::from_fn(|l| v_re[m][l] - old_re[m][l])),
                core::array::from_fn(|m| core::array::from_fn(|l| v_im[m][l] - old_im[m][l])),
            );
            let odd: ([Lanes; LOW_PER_HOP], [Lanes; LOW_PER_HOP]) = (
                core::array::from_fn(|m| core::array::from_fn(|l| v_re[m][l] + old_re[m][l])),
                core::array::from_fn(|m| core::array::from_fn(|l| v_im[m][l] + old_im[m][l])),
            );
            self.v_re[b][ring] = v_re;
            self.v_im[b][ring] = v_im;
            let sums = (
                &mut self.sum_re[row..row + rows],
                &mut self.sum_im[row..row + rows],
            );
            if exact {
                sums.0.fill([0.0; LANES]);
                sums.1.fill([0.0; LANES]);
                for h in 0..WINDOW_HOPS {
                    // Slot h holds the hop `age` hops back.
                    let age = (ring + WINDOW_HOPS - h) % WINDOW_HOPS;
                    let at = LOW_PER_HOP * ((self.phase + PERIOD_HOPS - age) % PERIOD_HOPS);
                    let v = (&self.v_re[b][h], &self.v_im[b][h]);
                    dft_add::<FMA>((&mut *sums.0, &mut *sums.1), half, at, v, v);
                }
            } else {
                dft_add::<FMA>(sums, half, row0, (&even.0, &even.1), (&odd.0, &odd.1));
            }
            hann_power(
                t,
                (&self.sum_re[row..row + rows], &self.sum_im[row..row + rows]),
                row,
                (br, bi),
                &mut peak,
            );
        }

        // Each band's strongest interior local maximum (the first of nearly equal ones), one
        // band per lane at a time, with the powers around it for `band_power`'s correction.
        for pass in &t.passes {
            let mut best = [0u32; LANES];
            for j in pass.rows.clone() {
                let q = &peak[j];
                let r = j as i32;
                for l in 0..LANES {
                    let inside = u32::from((r >= pass.lo[l]) & (r < pass.hi[l]));
                    best[l] = best[l].max(q[l] & inside.wrapping_neg());
                }
            }
            for l in 0..LANES {
                let b = usize::from(pass.band[l]);
                let tag = best[l] & ROW_MASK;
                let k = if best[l] > 0 {
                    (ROW_MASK - tag) as usize
                } else {
                    0
                };
                if let (Some(o), Some(r)) = (self.band_power.get_mut(b), self.band_row.get_mut(b)) {
                    *o = f32::from_bits(best[l] & !ROW_MASK);
                    *r = k as u8;
                }
            }
        }

        self.beta = (br, bi);
        self.phase = (self.phase + 1) % PERIOD_HOPS;
        self.x.copy_within(HOP..HOP + HIST, 0);
    }

    /// Band `band`'s strongest interior peak over the last window, corrected for where the
    /// sine sits between the bins (the filter's gain at the sine, not at the bin); 0 when
    /// the band has no interior peak. [`measure`](Self::measure) gives the uncorrected
    /// value, at most [`refine_bound`](Self::refine_bound) times smaller than this.
    pub(crate) fn band_power(&self, band: usize) -> f32 {
        let (Some(b), Some(&k)) = (self.t.bands.get(band), self.band_row.get(band)) else {
            return 0.0;
        };
        let (k, l) = (usize::from(k), b.lane % LANES);
        // The Hann powers of the peak's bin and its neighbours, as the hop computed them.
        let (qr, qi) = (0.5 * self.beta.0, 0.5 * self.beta.1);
        let power = |r: usize| -> Option<f32> {
            let at = |r: usize| Some((self.sum_re.get(r)?[l], self.sum_im.get(r)?[l]));
            Some(hann_bin(
                at(r.checked_sub(GUARD)?)?,
                at(r)?,
                at(r + GUARD)?,
                (qr, qi),
            ))
        };
        match (
            power(k.wrapping_sub(1)),
            power(k),
            power(k + 1),
            self.t.gain.get(k.wrapping_sub(1)..k + 2),
        ) {
            (Some(a), Some(p), Some(c), Some(&[g0, g1, g2])) if k > 0 => {
                refined(a, p, c, g0[l], g1[l], g2[l])
            }
            _ => 0.0,
        }
    }

    /// A bound on [`band_power`](Self::band_power) / the value [`measure`](Self::measure)
    /// reports for the same band.
    pub(crate) fn refine_bound(&self) -> f32 {
        self.t.refine_bound
    }

    /// Measures the last window: writes each band's strongest interior peak into `out` (one
    /// entry per band; mean-square power, a sine of peak `A` on a bin gives `A²/2`, 0 when
    /// the band has no interior peak) and returns the window's Hann-weighted mean square.
    /// [`peak_freq`](Self::peak_freq) gives the peak's frequency.
    ///
    /// Only local maxima on interior bins count: energy leaking in from a sine outside the
    /// band (or one sitting in a neighbouring, overlapping band) slopes up to the band's edge
    /// bin and has no interior peak, so it reads 0.
    pub(crate) fn measure(&self, out: &mut [f32; MAX_BANDS]) -> f32 {
        *out = self.band_power;
        self.weighted
    }

    /// Frequency of the bin of band `band`'s strongest interior peak over the last window,
    /// Hz; 0 when the band has no interior peak.
    pub(crate) fn peak_freq(&self, band: usize) -> f32 {
        match (self.t.bands.get(band), self.band_power.get(band)) {
            (Some(b), Some(&p)) if p > 0.0 => self
                .t
                .freq
                .get(usize::from(self.band_row[band]))
                .map_or(0.0, |f| f[b.lane % LANES]),
            _ => 0.0,
        }
    }
}

/// The hop's energy terms: `x²` through the channel filter `h`, one dot product per
/// low-rate sample `m`, summed as `Σe` and `Σe·e^{j2πm/25}`.
#[inline(always)]
fn energy_partials<const FMA: bool>(x: &[f32; XBUF], row0: usize) -> [f64; 3] {
    // Per lane: Σ_m h·x², Σ_m cos·h·x², −Σ_m sin·h·x² (phases of the low-rate samples).
    let mut e = [[0f32; LANES]; 3];
    for m in 0..LOW_PER_HOP {
        let xs = &x[DECIM * m..DECIM * m + TAPS_PADDED];
        let mut acc = [0f32; LANES];
        for (h, v) in H_REV.chunks_exact(LANES).zip(xs.chunks_exact(LANES)) {
            for l in 0..LANES {
                acc[l] = mul_add::<FMA>(h[l], v[l] * v[l], acc[l]);
            }
        }
        let (c, si) = hann_phase(row0 + m);
        for l in 0..LANES {
            e[0][l] += acc[l];
            e[1][l] = mul_add::<FMA>(c, acc[l], e[1][l]);
            e[2][l] = mul_add::<FMA>(-si, acc[l], e[2][l]);
        }
    }
    e.map(|a| f64::from((a[0] + a[4]) + (a[1] + a[5])) + f64::from((a[2] + a[6]) + (a[3] + a[7])))
}

/// Block `b`'s channels at the low rate: the complex band-pass FIR evaluated every
/// [`DECIM`] samples (from the folded sample pairs `sum`, `dif`), times the oscillator
/// `osc` (which then advances over the hop).
#[inline(always)]
fn demodulate<const FMA: bool>(
    t: &Tables,
    b: usize,
    osc: (&mut Lanes, &mut Lanes),
    sum: &[[f32; PAIRS_PADDED]; LOW_PER_HOP],
    dif: &[[f32; PAIRS_PADDED]; LOW_PER_HOP],
) -> ([Lanes; LOW_PER_HOP], [Lanes; LOW_PER_HOP]) {
    let (pc, ps) = (&t.pair_cos[b], &t.pair_sin[b]);
    let mut ur = [[0f32; LANES]; LOW_PER_HOP];
    let mut ui = [[0f32; LANES]; LOW_PER_HOP];
    for i in 0..PAIRS {
        let (gc, gs) = (pc[i], ps[i]);
        for m in 0..LOW_PER_HOP {
            let (xs, xd) = (sum[m][i], dif[m][i]);
            for l in 0..LANES {
                ur[m][l] = mul_add::<FMA>(gc[l], xs, ur[m][l]);
                ui[m][l] = mul_add::<FMA>(gs[l], xd, ui[m][l]);
            }
        }
    }
    let (mut or, mut oi) = (*osc.0, *osc.1);
    let (sr, si) = (t.step_re[b], t.step_im[b]);
    let mut vr = [[0f32; LANES]; LOW_PER_HOP];
    let mut vi = [[0f32; LANES]; LOW_PER_HOP];
    for m in 0..LOW_PER_HOP {
        for l in 0..LANES {
            vr[m][l] = or[l] * ur[m][l] - oi[l] * ui[m][l];
            vi[m][l] = or[l] * ui[m][l] + oi[l] * ur[m][l];
            let r = or[l] * sr[l] - oi[l] * si[l];
            oi[l] = or[l] * si[l] + oi[l] * sr[l];
            or[l] = r;
        }
    }
    // Keep |osc| = 1 (one Newton step; the error per hop is ~1e-7).
    for l in 0..LANES {
        let g = 1.5 - 0.5 * (or[l] * or[l] + oi[l] * oi[l]);
        or[l] *= g;
        oi[l] *= g;
    }
    (*osc.0, *osc.1) = (or, oi);
    (vr, vi)
}

/// Adds to a block's running window DFT `Σ v[m]·W^{j·(at + m)}` for each bin `j` relative
/// to the middle one (`−half ≤ j ≤ half`, in row `half + j` of `sums`), `v` being `even`
/// for even `j` and `odd` for odd `j`. `Y(j)` and `Y(−j)` share their products (`W^{−jm}`
/// is the conjugate of `W^{jm}`, and `j`, `−j` have the same parity).
#[inline(always)]
fn dft_add<const FMA: bool>(
    sums: (&mut [Lanes], &mut [Lanes]),
    half: usize,
    at: usize,
    even: (&[Lanes; LOW_PER_HOP], &[Lanes; LOW_PER_HOP]),
    odd: (&[Lanes; LOW_PER_HOP], &[Lanes; LOW_PER_HOP]),
) {
    let tw_re: [&[f32; CH_SLOTS]; LOW_PER_HOP] =
        core::array::from_fn(|m| &TWIDDLES.re[(at + m) % PHASE_PERIOD]);
    let tw_im: [&[f32; CH_SLOTS]; LOW_PER_HOP] =
        core::array::from_fn(|m| &TWIDDLES.im[(at + m) % PHASE_PERIOD]);
    // Y(0), then Y(±j) for even j, then for odd j: Y(j) = (rr − ii) + i(ri + ir) and
    // Y(−j) = (rr + ii) + i(ri − ir).
    let (rr, ii, ri, ir) = bin_dft::<FMA>(&tw_re, &tw_im, 0, even);
    for l in 0..LANES {
        sums.0[half][l] += rr[l] - ii[l];
        sums.1[half][l] += ri[l] + ir[l];
    }
    for (first, v) in [(2, even), (1, odd)] {
        for j in (first..=half).step_by(2) {
            let (rr, ii, ri, ir) = bin_dft::<FMA>(&tw_re, &tw_im, j, v);
            let (up_re, up_im) = (&mut sums.0[half + j], &mut sums.1[half + j]);
            for l in 0..LANES {
                up_re[l] += rr[l] - ii[l];
                up_im[l] += ri[l] + ir[l];
            }
            let (down_re, down_im) = (&mut sums.0[half - j], &mut sums.1[half - j]);
            for l in 0..LANES {
                down_re[l] += rr[l] + ii[l];
                down_im[l] += ri[l] - ir[l];
            }
        }
    }
}

/// `Σ tr·vr, Σ ti·vi, Σ tr·vi, Σ ti·vr` over the hop's samples, with `W^{j·m} = tr + i·ti`.
#[inline(always)]
fn bin_dft<const FMA: bool>(
    tw_re: &[&[f32; CH_SLOTS]; LOW_PER_HOP],
    tw_im: &[&[f32; CH_SLOTS]; LOW_PER_HOP],
    j: usize,
    (v_re, v_im): (&[Lanes; LOW_PER_HOP], &[Lanes; LOW_PER_HOP]),
) -> (Lanes, Lanes, Lanes, Lanes) {
    let mut rr = [0f32; LANES];
    let mut ii = [0f32; LANES];
    let mut ri = [0f32; LANES];
    let mut ir = [0f32; LANES];
    for m in 0..LOW_PER_HOP {
        let (tr, ti) = (tw_re[m][j], tw_im[m][j]);
        for l in 0..LANES {
            rr[l] = mul_add::<FMA>(tr, v_re[m][l], rr[l]);
            ii[l] = mul_add::<FMA>(ti, v_im[m][l], ii[l]);
            ri[l] = mul_add::<FMA>(tr, v_im[m][l], ri[l]);
            ir[l] = mul_add::<FMA>(ti, v_re[m][l], ir[l]);
        }
    }
    (rr, ii, ri, ir)
}

/// A bin's Hann power from the window DFT at the bin (`a`) and at the bins one window bin
/// below (`lo`) and above (`hi`), `q` being `½β`: `|A − ½βA₋ − ½β*A₊|²`.
#[inline(always)]
fn hann_bin(lo: (f32, f32), a: (f32, f32), hi: (f32, f32), q: (f32, f32)) -> f32 {
    let (sr, si) = (lo.0 + hi.0, lo.1 + hi.1);
    let (dr, di) = (lo.0 - hi.0, lo.1 - hi.1);
    let xr = a.0 - (q.0 * sr - q.1 * di);
    let xi = a.1 - (q.0 * si + q.1 * dr);
    xr * xr + xi * xi
}

/// Hann power of a block's rows (`first` its first row bank-wide; `sums` its window DFT,
/// `2H(j) = A(j) − ½βA(j−2) − ½β*A(j+2)`, the factor 2 being in the gain): its local maxima
/// into `peak` (power with the gain applied, as `f32` bits, the low
/// [`ROW_BITS`] replaced by `63 − row` so that the strongest of equal peaks is the lowest).
/// Only rows that can hold a measured bin get a power (the first and last [`GUARD`] rows are
/// guard bins of every channel), and only rows that can hold an interior bin a local maximum
/// (the others stay 0).
#[inline(always)]
fn hann_power(
    t: &Tables,
    sums: (&[Lanes], &[Lanes]),
    first: usize,
    (br, bi): (f32, f32),
    peak: &mut [[u32; LANES]; MAX_ROWS],
) {
    let rows = sums.0.len().min(sums.1.len());
    let (qr, qi) = (0.5 * br, 0.5 * bi);
    // The powers of the two rows before row j, for the local maxima of row j − 1.
    let (mut before, mut prev) = ([0f32; LANES], [0f32; LANES]);
    for j in GUARD..rows.saturating_sub(GUARD) {
        let (lr, li) = (&sums.0[j - GUARD], &sums.1[j - GUARD]);
        let (ar, ai) = (&sums.0[j], &sums.1[j]);
        let (hr, hi) = (&sums.0[j + GUARD], &sums.1[j + GUARD]);
        let mut p = [0f32; LANES];
        for l in 0..LANES {
            p[l] = hann_bin((lr[l], li[l]), (ar[l], ai[l]), (hr[l], hi[l]), (qr, qi));
        }
        // Local maxima (ties included) of the power before the gain: every bin sees a
        // sine through the same filter gain, so they fall where the Hann window puts
        // them. Rows GUARD + 1 ..= rows − GUARD − 2 only (the others can't be interior).
        if j >= GUARD + 2 {
            let k = first + j - 1;
            let gain = &t.gain[k];
            let tag = ROW_MASK - k as u32;
            let mut q = [0u32; LANES];
            for l in 0..LANES {
                let keep = u32::from((prev[l] >= before[l]) & (prev[l] >= p[l]));
                q[l] = ((prev[l] * gain[l]).to_bits() & !ROW_MASK | tag) & keep.wrapping_neg();
            }
            peak[k] = q;
        }
        (before, prev) = (prev, p);
    }
}

/// The power `p·g(d)` of a peak at bin `k` (powers `a`, `p`, `c` before the gain at bins
/// `k − 1`, `k`, `k + 1`, gains `g0`, `g1`, `g2`): the sine's offset `d` from bin `k` (in bins,
/// `|d| ≤ ½`) from a parabola through the three powers, the gain at `d` from a parabola through
/// the three gains.
fn refined(a: f32, p: f32, c: f32, g0: f32, g1: f32, g2: f32) -> f32 {
    let den = a - 2.0 * p + c;
    let d = if den < 0.0 {
        (0.5 * (a - c) / den).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    p * interpolate_gain(d, g0, g1, g2)
}

/// The gain `d` bins from the middle one of three gains one bin apart (parabola).
fn interpolate_gain(d: f32, g0: f32, g1: f32, g2: f32) -> f32 {
    g1 + 0.5 * d * (g2 - g0) + 0.5 * d * d * (g2 - 2.0 * g1 + g0)
}

/// `|Ĥ(θ)|²`, the channel filter's power response at `θ` radians per sample from its centre.
fn filter_response(theta: f64) -> f64 {
    let (mut re, mut im) = (0f64, 0f64);
    for (k, &h) in H_REV[..TAPS].iter().enumerate() {
        let i = (TAPS - 1 - k) as f64;
        re += f64::from(h) * (theta * i).cos();
        im -= f64::from(h) * (theta * i).sin();
    }
    re * re + im * im
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::tests_support::Rng;
    use core::f64::consts::TAU;

    /// The bands the detector builds for the US plan (SIT, CNG, CED, then 350, 440, 480,
    /// 620 Hz, each ±3 % + 7.5 Hz): 8 channels, 440 and 480 Hz sharing one.
    fn us_bank() -> (FilterBank, Vec<(f32, f32, usize)>) {
        let mut bank = FilterBank::new();
        let specs = [
            (878.886f32, 1022.256f32),
            (1322.0, 1478.8),
            (1715.9, 1861.5),
            (1059.5, 1140.5),
            (2029.5, 2170.5),
            (332.0, 368.0),
            (419.3, 460.7),
            (458.1, 501.9),
            (593.9, 646.1),
        ];
        let bands = specs
            .iter()
            .map(|&(lo, hi)| (lo, hi, bank.add_band(lo, hi).unwrap()))
            .collect();
        (bank, bands)
    }

    /// Feeds `x` one sample at a time; returns where the last hop ended.
    fn feed(bank: &mut FilterBank, x: &[i16]) -> usize {
        let mut last = 0;
        for (i, s) in x.chunks(1).enumerate() {
            if bank.push(s) {
                last = i + 1;
            }
        }
        last
    }

    fn hann(n: usize) -> f64 {
        0.5 - 0.5 * (TAU * n as f64 / WINDOW as f64).cos()
    }

    /// Hann-windowed DFT power of `win` (50 ms) at `f`, scaled like the bank's.
    fn direct(win: &[i16], f: f32) -> f64 {
        let (mut re, mut im) = (0f64, 0f64);
        for (n, &s) in win.iter().enumerate() {
            let w = TAU * f64::from(f) * n as f64 / 8000.0;
            re += hann(n) * f64::from(s) * w.cos();
            im += hann(n) * f64::from(s) * w.sin();
        }
        8.0 * (re * re + im * im) / (WINDOW * WINDOW) as f64
    }

    /// `Σw·x²/Σw` of `win` (50 ms, Hann `w`).
    fn direct_energy(win: &[i16]) -> f64 {
        let e: f64 = win
            .iter()
            .enumerate()
            .map(|(n, &s)| hann(n) * f64::from(s).powi(2))
            .sum();
        e / (WINDOW as f64 / 2.0)
    }

    /// The demodulated, decimated analysis measures what a direct Hann-windowed DFT of the
    /// last 50 ms (f64, at the peak's bin) measures, for two tones 50 Hz apart (UK ringback)
    /// at a sub-hop offset, to 0.13 dB; the weighted energy equals `Σw·x²/Σw` to 0.5 %. (The
    /// old bank was that transform, exactly. This one filters and decimates first: its
    /// window is the Hann window smoothed by the channel filter. Its sidelobes differ a
    /// little, and the louder tone's sidelobe, −31 dB under the softer tone's peak here,
    /// differs by a few percent; its weights differ a little, and so does the weighted
    /// energy of the tones' 44 Hz beat. Single tones match far closer, see the next test.)
    #[test]
    fn decimated_analysis_matches_the_direct_hann_transform() {
        let mut bank = FilterBank::new();
        let b400 = bank.add_band(380.0, 420.0).unwrap();
        let b450 = bank.add_band(430.0, 470.0).unwrap();
        let x: Vec<i16> = (0..1237)
            .map(|n| {
                let t = n as f64 / 8000.0;
                (6000.0 * (TAU * 403.0 * t).sin() + 3000.0 * (TAU * 447.0 * t + 1.0).sin()) as i16
            })
            .collect();
        let last = feed(&mut bank, &x);
        let mut out = [0f32; MAX_BANDS];
        let energy = bank.measure(&mut out);
        let win = &x[last - WINDOW..last];
        for (b, f) in [(b400, 403.0f32), (b450, 447.0)] {
            let (power, freq) = (bank.band_power(b), bank.peak_freq(b));
            assert!((freq - f).abs() <= 5.0, "peak at {freq} for {f}");
            let want = direct(win, freq);
            assert!(
                (f64::from(power) / want - 1.0).abs() < 0.03,
                "{power} vs {want}"
            );
            // The uncorrected value times the bound is above it.
            assert!(
                power <= out[b] * bank.refine_bound(),
                "{power} vs {}",
                out[b]
            );
        }
        let e_direct = direct_energy(win);
        assert!(
            (f64::from(energy) / e_direct - 1.0).abs() < 5e-3,
            "{energy} vs {e_direct}"
        );
        // A steady sine's bin power equals its weighted energy, 6000²/2.
        assert!((f64::from(bank.band_power(b400)) / 18e6 - 1.0).abs() < 0.02);
    }

    /// The same for single tones anywhere in every band of the US plan, at random phases and
    /// sub-hop offsets: within 0.03 dB of the direct transform (also at a channel's edge, where
    /// the filter's gain falls fastest), and the weighted energy within 1e-4.
    #[test]
    fn every_band_matches_the_direct_transform_across_its_width() {
        let (mut bank, bands) = us_bank();
        let mut rng = Rng::new(3);
        for &(lo, hi, b) in &bands {
            for i in 0..24 {
                let f = f64::from(lo + 5.0 + (hi - lo - 10.0) * i as f32 / 23.0);
                let ph = f64::from(rng.unit()) * TAU;
                let n = 2000 + (rng.unit() * 80.0) as usize;
                let x: Vec<i16> = (0..n)
                    .map(|n| (8000.0 * (TAU * f * n as f64 / 8000.0 + ph).sin()) as i16)
                    .collect();
                bank.reset();
                let last = feed(&mut bank, &x);
                let mut out = [0f32; MAX_BANDS];
                let e = bank.measure(&mut out);
                let win = &x[last - WINDOW..last];
                let freq = bank.peak_freq(b);
                assert!(
                    (f64::from(freq) - f).abs() <= 5.01,
                    "{f} Hz: peak at {freq}"
                );
                let db = 10.0 * (f64::from(bank.band_power(b)) / direct(win, freq)).log10();
                assert!(db.abs() < 0.03, "{f} Hz: {db:.3} dB");
                assert!(
                    (f64::from(e) / direct_energy(win) - 1.0).abs() < 1e-4,
                    "{f} Hz"
                );
            }
        }
    }

    /// A sine just outside a band (or in a neighbouring band) makes no interior peak: what
    /// the band reads is at most a Hann sidelobe, more than 30 dB down.
    #[test]
    fn leakage_from_outside_the_band_reads_zero() {
        let mut bank = FilterBank::new();
        let b = bank.add_band(430.0, 470.0).unwrap();
        let mut out = [0f32; MAX_BANDS];
        for n in 0..800 {
            let v = 8000.0 * (core::f64::consts::TAU * 410.0 * n as f64 / 8000.0).sin();
            let _ = bank.push(&[v as i16]);
        }
        bank.measure(&mut out);
        assert!(out[b] < 32e6 * 1e-3, "{}", out[b]);
    }

    /// Decimation folds whatever lies a multiple of 500 Hz away onto a channel's bins; the
    /// channel filter keeps it at least 40 dB down on every band of the US plan: a sine
    /// anywhere more than 250 Hz from a band (where nothing of it is supposed to be seen)
    /// reads at least 40 dB below its own power.
    #[test]
    fn what_folds_onto_a_band_is_at_least_40_db_down() {
        let (mut bank, bands) = us_bank();
        let a = 16_000.0f64;
        let mut worst = f64::MIN;
        for f in (100..3900).step_by(7).map(f64::from) {
            let x: Vec<i16> = (0..2000)
                .map(|n| (a * (TAU * f * n as f64 / 8000.0).sin()) as i16)
                .collect();
            bank.reset();
            feed(&mut bank, &x);
            for &(lo, hi, b) in &bands {
                if f > f64::from(lo) - 250.0 && f < f64::from(hi) + 250.0 {
                    continue;
                }
                let db = 10.0 * (f64::from(bank.band_power(b)) / (a * a / 2.0)).log10();
                worst = worst.max(db);
                assert!(db < -40.0, "{f} Hz in band {lo}..{hi}: {db:.1} dB");
            }
        }
        assert!(
            worst > -70.0,
            "the test sees folding at all ({worst:.1} dB)"
        );
    }

    /// The running window DFTs don't drift: after 30 s of loud noise and then a quiet tone
    /// (60 dB down, through a recomputation and up to the hop before the next), every window
    /// of pure tone measures within 0.03 dB of the direct transform; and digital silence
    /// reads exactly zero once the sums have been recomputed.
    #[test]
    fn running_sums_stay_exact() {
        let (mut bank, bands) = us_bank();
        let mut rng = Rng::new(11);
        let noise: Vec<i16> = (0..240_000)
            .map(|_| (rng.unit() * 60_000.0 - 30_000.0) as i16)
            .collect();
        feed(&mut bank, &noise);
        let (lo, hi, b) = bands[6];
        let f = f64::from(lo + hi) / 2.0;
        let tone: Vec<i16> = (0..8000 * 2)
            .map(|n| (30.0 * (TAU * f * n as f64 / 8000.0).sin()).round() as i16)
            .collect();
        let mut checked = 0;
        for (i, s) in tone.chunks(1).enumerate() {
            if bank.push(s) && i + 1 >= WINDOW + HOP {
                let win = &tone[i + 1 - WINDOW..=i];
                let db =
                    10.0 * (f64::from(bank.band_power(b)) / direct(win, bank.peak_freq(b))).log10();
                assert!(db.abs() < 0.03, "hop ending at {}: {db:.3} dB", i + 1);
                checked += 1;
            }
        }
        assert!(checked > EXACT_EVERY + 50);
        feed(&mut bank, &noise[..80_000]);
        feed(&mut bank, &vec![0; HOP * (EXACT_EVERY + WINDOW_HOPS)]);
        let mut out = [1f32; MAX_BANDS];
        assert_eq!(bank.measure(&mut out), 0.0);
        assert!(out.iter().all(|&p| p == 0.0), "{out:?}");
        assert!(
            bank.sum_re
                .iter()
                .chain(&bank.sum_im)
                .flatten()
                .all(|&v| v == 0.0)
        );
    }

    /// Clones share the plan's tables; their signal state is their own.
    #[test]
    fn clones_share_the_tables() {
        let (mut a, bands) = us_bank();
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.t, &b.t));
        let x: Vec<i16> = (0..4000)
            .map(|n| (8000.0 * (TAU * 350.0 * n as f64 / 8000.0).sin()) as i16)
            .collect();
        feed(&mut a, &x);
        feed(&mut b, &[0; 4000]);
        let (_, _, band) = bands[5];
        assert!(a.band_power(band) > 1e6);
        assert_eq!(b.band_power(band), 0.0);
    }

    /// The constant tables are what they say: the 50th roots of unity (by Taylor series in a
    /// constant) and a unit-gain, symmetric filter.
    #[test]
    fn tables_are_right() {
        for r in 0..PHASE_PERIOD {
            for j in 0..CH_SLOTS {
                let w = -TAU * (j * r) as f64 / PHASE_PERIOD as f64;
                assert!((f64::from(TWIDDLES.re[r][j]) - w.cos()).abs() < 1e-7);
                assert!((f64::from(TWIDDLES.im[r][j]) - w.sin()).abs() < 1e-7);
            }
        }
        let h = &H_REV[..TAPS];
        assert!((h.iter().map(|&v| f64::from(v)).sum::<f64>() - 1.0).abs() < 1e-6);
        assert!((0..TAPS).all(|k| h[k] == h[TAPS - 1 - k] && h[k] > 0.0));
        assert!(H_REV[TAPS..].iter().all(|&v| v == 0.0));
    }

    /// The AVX2 + FMA build and the portable build measure the same, to float rounding, and
    /// cutting the input differently changes nothing at all.
    #[test]
    fn builds_and_chunkings_agree() {
        let (portable, _) = us_bank();
        let mut x = crate::progress::tests_support::speech(3.0, -15.0, 9);
        let tone: Vec<i16> = (0..16_000)
            .map(|n| {
                let t = n as f64 / 8000.0;
                (5000.0 * ((TAU * 440.0 * t).sin() + (TAU * 480.0 * t).sin())) as i16
            })
            .collect();
        x.extend_from_slice(&tone);
        let run = |simd: bool, chunk: usize| {
            let mut bank = portable.clone();
            bank.simd = simd;
            let mut seen = Vec::new();
            for c in x.chunks(chunk) {
                let mut rest = c;
                while !rest.is_empty() {
                    let n = rest.len().min(bank.room());
                    if bank.push(&rest[..n]) {
                        let mut out = [0f32; MAX_BANDS];
                        let e = bank.measure(&mut out);
                        seen.push((e, out));
                    }
                    rest = &rest[n..];
                }
            }
            seen
        };
        let reference = run(false, 160);
        assert_eq!(run(false, 7), reference);
        assert_eq!(run(false, x.len()), reference);
        if simd_available() {
            let fast = run(true, 160);
            assert_eq!(run(true, 33), fast);
            for ((e0, p0), (e1, p1)) in reference.iter().zip(&fast) {
                assert!((e0 - e1).abs() <= 1e-4 * e0.abs() + 1e-3, "{e0} {e1}");
                for (a, b) in p0.iter().zip(p1) {
                    assert!((a - b).abs() <= 1e-3 * a.abs().max(*b) + 1e-2, "{a} {b}");
                }
            }
        }
    }
}
