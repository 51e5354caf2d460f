//! Per-source reception state of RFC 3550: sequence validation, loss and jitter.
//!
//! # What does it do?
//! [`SourceState`] follows one synchronisation source (SSRC) as RFC 3550 Appendix A asks:
//!
//! * **§A.1, sequence numbers.** A new source is on *probation* until `min_sequential`
//!   packets arrive in sequence. After that, a jump of fewer than `MAX_DROPOUT` (3 000)
//!   is accepted (packets were lost) and extends the 16-bit number to 32 bits across wraps; a
//!   packet up to `MAX_MISORDER` (100) behind is late or a duplicate; anything else is a
//!   *bad* jump, dropped unless the very next packet follows it, in which case the sender
//!   is taken to have restarted and the state is re-initialised.
//! * **§A.3, loss.** Expected = highest extended sequence − base + 1; cumulative lost =
//!   expected − received (duplicates count as received, so it can be negative); fraction
//!   lost over the interval since the previous report.
//! * **§A.8, interarrival jitter.** `J += (|D| − J) / 16` where `D` is the change in
//!   transit time (arrival time in RTP units minus RTP timestamp) between consecutive
//!   packets; kept ×16 in integers as the RFC's sample code does.
//!
//! # How does it work?
//! It is RFC 3550's code (Appendix A.1, A.3 and A.8) in Rust, with one addition: the
//! extended sequence number of every accepted packet, including late ones, so the receiver
//! can detect duplicates and tell the newest packet from a reordered one.

/// A jump this large or more (ahead) is not taken as loss (RFC 3550 §A.1).
pub const MAX_DROPOUT: u16 = 3_000;
/// A packet up to this far behind is late, not a restart (RFC 3550 §A.1).
pub const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// How [`SourceState::update_seq`] judged a packet's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Valid: `ext` is its 32-bit extended sequence number; `newest` if it advanced the
    /// highest number seen (otherwise it is late, reordered or a duplicate).
    Valid {
        /// Extended sequence number.
        ext: u32,
        /// Whether it is the highest so far.
        newest: bool,
        /// Whether the state was (re)initialised by this packet (end of probation, or a
        /// confirmed restart after a bad jump).
        restarted: bool,
    },
    /// The source is still on probation (§A.1): not yet valid.
    Probation,
    /// A jump too large to be loss: dropped until confirmed by the next packet (§A.1).
    BadJump,
}

/// RFC 3550 Appendix A.1 source state, plus the A.3 and A.8 counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceState {
    ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u8,
    min_sequential: u8,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet (RTP units); `None` after a restart.
    transit: Option<i32>,
    /// Interarrival jitter ×16 (RTP units), §A.8.
    jitter16: u32,
}

/// The loss and jitter figures of one RFC 3550 report block (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reception {
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (expected − received), clamped to the 24-bit field.
    pub cumulative_lost: i32,
    /// Highest extended sequence number received.
    pub ext_max_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
}

impl SourceState {
    /// State for a source first heard with sequence number `seq` (§A.1: "max_seq = seq - 1;
    /// probation = MIN_SEQUENTIAL"). `min_sequential` of 0 or 1 accepts the first packet.
    pub fn new(ssrc: u32, seq: u16, min_sequential: u8) -> Self {
        let mut s = Self {
            ssrc,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: min_sequential,
            min_sequential,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter16: 0,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    /// The SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Whether probation is over.
    pub fn is_valid(&self) -> bool {
        self.probation == 0
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.transit = None;
    }

    /// RFC 3550 §A.1 `update_seq`, returning the packet's extended number when valid.
    pub fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            // Packets must arrive in sequence during probation.
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid {
                        ext: u32::from(seq),
                        newest: true,
                        restarted: true,
                    };
                }
            } else {
                self.probation = self.min_sequential.saturating_sub(1);
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        }
        let mut restarted = false;
        let newest;
        if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max_seq {
                // Sequence number wrapped: count another 64K cycle.
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            newest = udelta != 0;
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            // The sequence number made a very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: assume the other side restarted without telling us.
                self.init_seq(seq);
                restarted = true;
                newest = true;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
                return SeqVerdict::BadJump;
            }
        } else {
            // Duplicate or reordered packet.
            newest = false;
        }
        self.received = self.received.wrapping_add(1);
        let back = u32::from(self.max_seq.wrapping_sub(seq));
        let ext = (self.cycles.wrapping_add(u32::from(self.max_seq))).wrapping_sub(back);
        SeqVerdict::Valid {
            ext,
            newest,
            restarted,
        }
    }

    /// RFC 3550 §A.8: updates the jitter with a packet of RTP timestamp `ts` that arrived at
    /// `arrival`, expressed in the same RTP clock units.
    pub fn update_jitter(&mut self, arrival: u32, ts: u32) {
        let transit = arrival.wrapping_sub(ts) as i32;
        if let Some(prev) = self.transit {
            let d = transit.wrapping_sub(prev).unsigned_abs();
            // J += (|D| - J) / 16, with J kept ×16 (RFC 3550 §A.8's integer form).
            let j = i64::from(self.jitter16) + i64::from(d) - ((i64::from(self.jitter16) + 8) >> 4);
            self.jitter16 = j.clamp(0, i64::from(u32::MAX)) as u32;
        }
        self.transit = Some(transit);
    }

    /// Forgets the previous transit time, so a timestamp discontinuity the receiver has
    /// resynchronised to does not show as one huge jitter sample.
    pub fn reset_transit(&mut self) {
        self.transit = None;
    }

    /// Interarrival jitter, RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter16 >> 4
    }

    /// Highest extended sequence number.
    pub fn ext_max_seq(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected (§A.3).
    pub fn expected(&self) -> u32 {
        self.ext_max_seq()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received (duplicates included, §A.3).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost (§A.3), clamped to the report block's signed 24 bits.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i64::from(self.expected()) - i64::from(self.received);
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// The report block figures, starting a new interval for the fraction lost (§A.3).
    pub fn report(&mut self) -> Reception {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        Reception {
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            ext_max_seq: self.ext_max_seq(),
            jitter: self.jitter(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(v: SeqVerdict) -> (u32, bool) {
        match v {
            SeqVerdict::Valid { ext, newest, .. } => (ext, newest),
            other => panic!("not valid: {other:?}"),
        }
    }

    /// §A.1: a new source needs MIN_SEQUENTIAL (2) packets in sequence before it is valid;
    /// a packet out of sequence restarts the probation.
    #[test]
    fn rfc3550_a1_probation() {
        let mut s = SourceState::new(1, 100, 2);
        assert_eq!(s.update_seq(100), SeqVerdict::Probation);
        assert!(!s.is_valid());
        assert_eq!(
            s.update_seq(101),
            SeqVerdict::Valid {
                ext: 101,
                newest: true,
                restarted: true
            }
        );
        assert!(s.is_valid());
        // Out-of-sequence during probation restarts it.
        let mut s = SourceState::new(1, 100, 2);
        assert_eq!(s.update_seq(100), SeqVerdict::Probation);
        assert_eq!(s.update_seq(500), SeqVerdict::Probation);
        assert_eq!(s.update_seq(502), SeqVerdict::Probation);
        assert!(matches!(s.update_seq(503), SeqVerdict::Valid { .. }));
        // min_sequential 1: valid at once.
        let mut s = SourceState::new(1, 7, 1);
        assert_eq!(valid(s.update_seq(7)), (7, true));
        // min_sequential 3.
        let mut s = SourceState::new(1, 7, 3);
        assert_eq!(s.update_seq(7), SeqVerdict::Probation);
        assert_eq!(s.update_seq(8), SeqVerdict::Probation);
        assert_eq!(valid(s.update_seq(9)), (9, true));
    }

    /// §A.1: the extended sequence number counts 64K cycles across the wrap at 65535.
    #[test]
    fn rfc3550_a1_wrap_at_65535() {
        let mut s = SourceState::new(1, 65_533, 1);
        assert_eq!(valid(s.update_seq(65_533)), (65_533, true));
        assert_eq!(valid(s.update_seq(65_534)), (65_534, true));
        assert_eq!(valid(s.update_seq(65_535)), (65_535, true));
        assert_eq!(valid(s.update_seq(0)), (65_536, true));
        assert_eq!(valid(s.update_seq(1)), (65_537, true));
        // A late packet from before the wrap keeps its own cycle.
        assert_eq!(valid(s.update_seq(65_535)), (65_535, false));
        assert_eq!(s.ext_max_seq(), 65_537);
        assert_eq!(s.expected(), 5);
        assert_eq!(s.received(), 6); // the duplicate counts (§A.3)
        assert_eq!(s.cumulative_lost(), -1);
    }

    /// §A.1: jumps below MAX_DROPOUT are loss; larger ones are dropped unless the next packet
    /// follows, which restarts the state; up to MAX_MISORDER behind is a late packet.
    #[test]
    fn rfc3550_a1_dropout_misorder_and_restart() {
        let mut s = SourceState::new(9, 1000, 1);
        valid(s.update_seq(1000));
        assert_eq!(valid(s.update_seq(1000 + 2999)), (3999, true)); // loss of 2998
        assert_eq!(s.cumulative_lost(), 2998);
        assert_eq!(valid(s.update_seq(3999 - 99)), (3900, false)); // misordered
        // MAX_MISORDER behind or more is a jump, not a late packet.
        assert_eq!(s.update_seq(3999 - 100), SeqVerdict::BadJump);
        assert_eq!(s.update_seq(20_000), SeqVerdict::BadJump);
        assert_eq!(s.update_seq(30_000), SeqVerdict::BadJump);
        assert_eq!(
            s.update_seq(30_001),
            SeqVerdict::Valid {
                ext: 30_001,
                newest: true,
                restarted: true
            }
        );
        assert_eq!(s.expected(), 1);
        assert_eq!(s.received(), 1);
    }

    /// §A.3: fraction lost is per interval between reports; cumulative lost is not.
    #[test]
    fn rfc3550_a3_fraction_and_cumulative_loss() {
        let mut s = SourceState::new(1, 0, 1);
        for seq in 0..100u16 {
            if seq % 4 != 3 {
                s.update_seq(seq);
            }
        }
        let r = s.report();
        // Highest received is 98; 99 expected, 75 received → 24 lost.
        assert_eq!(r.ext_max_seq, 98);
        assert_eq!(r.cumulative_lost, 24);
        assert_eq!(r.fraction_lost, (24 * 256 / 99) as u8);
        for seq in 100..200u16 {
            s.update_seq(seq);
        }
        let r = s.report();
        // Seq 99 (lost) falls in this interval: 1 of 101.
        assert_eq!(r.fraction_lost, (256 / 101) as u8);
        assert_eq!(r.cumulative_lost, 25);
        assert_eq!(s.report().fraction_lost, 0); // empty interval
    }

    /// §A.8: a stream whose transit alternates between two values D apart has |D| = D at
    /// every packet, so J converges to D; a constant transit gives 0.
    #[test]
    fn rfc3550_a8_jitter_on_a_known_stream() {
        let mut s = SourceState::new(1, 0, 1);
        for k in 0..400u32 {
            let ts = k * 160;
            let arrival = ts + 5_000 + if k % 2 == 1 { 80 } else { 0 };
            s.update_jitter(arrival, ts);
        }
        assert!((79..=80).contains(&s.jitter()), "{}", s.jitter());
        let mut s = SourceState::new(1, 0, 1);
        for k in 0..400u32 {
            s.update_jitter(k * 160 + 123, k * 160);
        }
        assert_eq!(s.jitter(), 0);
        // Wrapping timestamps and arrival do not disturb it.
        let mut s = SourceState::new(1, 0, 1);
        for k in 0..400u32 {
            let ts = (u32::MAX - 20_000).wrapping_add(k * 160);
            s.update_jitter(ts.wrapping_add(7), ts);
        }
        assert_eq!(s.jitter(), 0);
    }
}
