//! One call's RTP session: receiver, sender, and the RTCP that reports on both.
//!
//! # What does it do?
//! [`Session`] holds a call's [`Receiver`] and [`Sender`] (public fields: the media thread
//! drives them directly) and adds RTCP (RFC 3550 §6): [`Session::build_rtcp`] writes a
//! compound SR (if we sent RTP since the last report) or RR, with a report block on the
//! remote source and our CNAME; [`Session::handle_rtcp`] reads the peer's reports. From
//! those it keeps the figures a call's statistics need, in the `Copy` [`Stats`]: packets
//! and octets each way, loss, jitter, the last SR heard, the round-trip time, and what
//! the peer reports about our stream.
//!
//! # How does it work?
//! Time is the media clock (8 kHz samples). NTP timestamps are derived from it:
//! `ntp_at_zero` (the wall-clock NTP time at media time 0, read once by the control plane
//! when the call is set up) plus `now / 8000` seconds. The round-trip time is §6.4.1's
//! `A − LSR − DLSR`: the arrival time of an RR in the middle 32 bits of our NTP clock, minus
//! the SR timestamp it echoes, minus the delay the peer held it. Only our own clock is
//! involved, so the offset `ntp_at_zero` cancels out.

use crate::Ssrc;
use crate::error::{ConfigError, RtcpError};
use crate::receiver::{Receiver, ReceiverConfig, ReceiverStats};
use crate::rtcp::{self, MAX_CNAME, Report, ReportBlock, RtcpPacket, SenderInfo, ntp_middle};
use crate::sender::{Sender, SenderConfig, SenderStats};

/// Settings of a [`Session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The receiving half.
    pub receiver: ReceiverConfig,
    /// The sending half.
    pub sender: SenderConfig,
    /// NTP timestamp (64-bit fixed point) at media time 0, for sender reports. 0 is fine
    /// when the peer does not need wall-clock time (round-trip times do not depend on it).
    pub ntp_at_zero: u64,
}

/// The last sender report heard from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSr {
    /// The peer's SSRC.
    pub ssrc: Ssrc,
    /// Its NTP timestamp.
    pub ntp: u64,
    /// Its RTP timestamp.
    pub rtp_timestamp: u32,
    /// Packets the peer says it sent.
    pub packets: u32,
    /// Octets the peer says it sent.
    pub octets: u32,
    /// When it arrived (media clock).
    pub at: u64,
}

/// What the peer reports about our stream (its report block on our SSRC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteReport {
    /// Fraction lost over its last interval, 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost.
    pub cumulative_lost: i32,
    /// Highest sequence number it received.
    pub ext_max_seq: u32,
    /// The interarrival jitter it measured, ms.
    pub jitter_ms: f32,
}

/// What one incoming compound RTCP packet told us.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[must_use]
pub struct RtcpSummary {
    /// It held a sender report.
    pub sender_report: bool,
    /// It held a report block about our stream.
    pub report_on_us: bool,
    /// A round-trip time measured from it, ms.
    pub rtt_ms: Option<f32>,
    /// It held a BYE: the peer's source is leaving.
    pub bye: bool,
}

/// A call's RTP statistics; a snapshot, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// Payload octets sent.
    pub octets_sent: u64,
    /// RTP packets received (valid, duplicates included).
    pub packets_received: u64,
    /// Payload octets received.
    pub octets_received: u64,
    /// Packets lost from the remote source (RFC 3550 §A.3).
    pub cumulative_lost: i32,
    /// Fraction lost over the last report interval, 1/256 (as we last reported it).
    pub fraction_lost: u8,
    /// Interarrival jitter of the remote source, ms (RFC 3550 §A.8).
    pub jitter_ms: f32,
    /// The last sender report heard.
    pub last_sr: Option<LastSr>,
    /// The last round-trip time measured, ms.
    pub rtt_ms: Option<f32>,
    /// What the peer last reported about our stream.
    pub remote: Option<RemoteReport>,
    /// RTCP compounds sent and received, and received ones refused.
    pub rtcp_sent: u64,
    /// RTCP compounds received and accepted.
    pub rtcp_received: u64,
    /// RTCP compounds refused as malformed.
    pub rtcp_malformed: u64,
    /// The receiver's counters in full.
    pub receiver: ReceiverStats,
    /// The sender's counters in full.
    pub sender: SenderStats,
}

/// One call's RTP session. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    /// The receiving half.
    pub rx: Receiver,
    /// The sending half.
    pub tx: Sender,
    cname: heapless::Vec<u8, MAX_CNAME>,
    ntp_at_zero: u64,
    last_sr: Option<LastSr>,
    rtt: Option<u32>,
    remote: Option<ReportBlock>,
    packets_at_last_report: u64,
    fraction_lost: u8,
    rtcp_sent: u64,
    rtcp_received: u64,
    rtcp_malformed: u64,
}

impl Session {
    /// A session with everything sized. `cname` is the RTCP canonical name (RFC 7022: a
    /// random per-call or per-host identifier), at most 64 bytes.
    ///
    /// # Errors
    /// The receiver's or sender's configuration errors, or a CNAME that is empty or too
    /// long.
    pub fn new(cfg: SessionConfig, cname: &str) -> Result<Self, ConfigError> {
        let cname = heapless::Vec::from_slice(cname.as_bytes())
            .ok()
            .filter(|c: &heapless::Vec<u8, MAX_CNAME>| !c.is_empty())
            .ok_or(ConfigError::OutOfRange {
                field: "cname length",
                value: cname.len() as u32,
                min: 1,
                max: MAX_CNAME as u32,
            })?;
        Ok(Self {
            rx: Receiver::new(cfg.receiver)?,
            tx: Sender::new(cfg.sender)?,
            cname,
            ntp_at_zero: cfg.ntp_at_zero,
            last_sr: None,
            rtt: None,
            remote: None,
            packets_at_last_report: 0,
            fraction_lost: 0,
            rtcp_sent: 0,
            rtcp_received: 0,
            rtcp_malformed: 0,
        })
    }

    /// The NTP timestamp of media time `now`.
    pub fn ntp(&self, now: u64) -> u64 {
        let secs = now / 8_000;
        let frac = ((now % 8_000) << 32) / 8_000;
        self.ntp_at_zero.wrapping_add((secs << 32) | frac)
    }

    /// Writes our RTCP report into `out` (call it every few seconds; RFC 3550 §6.2 suggests
    /// 5 s); returns its length. An SR if we sent RTP since the last report, else an RR; a
    /// report block if we receive a valid source; always the CNAME.
    ///
    /// # Errors
    /// [`RtcpError::BufferTooSmall`] (a 200-byte buffer is always enough).
    pub fn build_rtcp(&mut self, now: u64, out: &mut [u8]) -> Result<usize, RtcpError> {
        let sent = self.tx.stats();
        let sender = (sent.packets > self.packets_at_last_report).then(|| SenderInfo {
            ntp: self.ntp(now),
            rtp_timestamp: self.tx.timestamp_now(),
            packets: sent.packets as u32,
            octets: sent.octets as u32,
        });
        let (lsr, dlsr) = match self.last_sr {
            Some(sr) => (
                ntp_middle(sr.ntp),
                // Delay since that SR, in 1/65 536 s.
                (now.saturating_sub(sr.at).saturating_mul(65_536) / 8_000).min(u64::from(u32::MAX))
                    as u32,
            ),
            None => (0, 0),
        };
        // Check the room first, so a failed build does not start a new loss interval.
        let probe = Report {
            ssrc: self.tx.ssrc(),
            sender,
            block: self.rx.ssrc().map(|_| ReportBlock::default()),
            cname: &self.cname,
        };
        if out.len() < probe.len() {
            return Err(RtcpError::BufferTooSmall {
                needed: probe.len(),
                got: out.len(),
            });
        }
        let block = self.rx.reception_report().map(|(ssrc, r)| {
            self.fraction_lost = r.fraction_lost;
            ReportBlock {
                ssrc,
                fraction_lost: r.fraction_lost,
                cumulative_lost: r.cumulative_lost,
                ext_max_seq: r.ext_max_seq,
                jitter: r.jitter,
                lsr,
                dlsr,
            }
        });
        let report = Report { block, ..probe };
        let n = rtcp::write_compound(&report, out)?;
        self.packets_at_last_report = sent.packets;
        self.rtcp_sent += 1;
        Ok(n)
    }

    /// Reads a compound RTCP packet from the peer that arrived at `now`.
    ///
    /// # Errors
    /// An invalid compound (RFC 3550 §A.2): counted, nothing of it is used.
    pub fn handle_rtcp(&mut self, now: u64, datagram: &[u8]) -> Result<RtcpSummary, RtcpError> {
        // Validate the whole compound before using any of it.
        if let Some(Err(e)) = rtcp::parse(datagram).find(Result::is_err) {
            self.rtcp_malformed += 1;
            return Err(e);
        }
        self.rtcp_received += 1;
        let mut summary = RtcpSummary::default();
        let me = self.tx.ssrc();
        for packet in rtcp::parse(datagram).flatten() {
            let blocks = match packet {
                RtcpPacket::SenderReport { ssrc, info, blocks } => {
                    summary.sender_report = true;
                    self.last_sr = Some(LastSr {
                        ssrc,
                        ntp: info.ntp,
                        rtp_timestamp: info.rtp_timestamp,
                        packets: info.packets,
                        octets: info.octets,
                        at: now,
                    });
                    blocks
                }
                RtcpPacket::ReceiverReport { blocks, .. } => blocks,
                RtcpPacket::Bye { .. } => {
                    summary.bye = true;
                    continue;
                }
                RtcpPacket::Other { .. } => continue,
            };
            for b in blocks.filter(|b| b.ssrc == me) {
                summary.report_on_us = true;
                self.remote = Some(b);
                if b.lsr != 0 {
                    let a = ntp_middle(self.ntp(now));
                    let rtt = a.wrapping_sub(b.lsr).wrapping_sub(b.dlsr);
                    // A negative result means clocks or reports are inconsistent: ignore it.
                    if (rtt as i32) >= 0 {
                        self.rtt = Some(rtt);
                        summary.rtt_ms = Some(rtt as f32 * 1_000.0 / 65_536.0);
                    }
                }
            }
        }
        Ok(summary)
    }

    /// The call's statistics.
    pub fn stats(&self) -> Stats {
        let receiver = self.rx.stats();
        let sender = self.tx.stats();
        let rate = self.tx.config().codec.clock_rate() as f32;
        Stats {
            packets_sent: sender.packets,
            octets_sent: sender.octets,
            packets_received: receiver.packets,
            octets_received: receiver.octets,
            cumulative_lost: receiver.cumulative_lost,
            fraction_lost: self.fraction_lost,
            jitter_ms: receiver.jitter_ms,
            last_sr: self.last_sr,
            rtt_ms: self.rtt.map(|r| r as f32 * 1_000.0 / 65_536.0),
            remote: self.remote.map(|b| RemoteReport {
                fraction_lost: b.fraction_lost,
                cumulative_lost: b.cumulative_lost,
                ext_max_seq: b.ext_max_seq,
                jitter_ms: b.jitter as f32 * 1_000.0 / rate,
            }),
            rtcp_sent: self.rtcp_sent,
            rtcp_received: self.rtcp_received,
            rtcp_malformed: self.rtcp_malformed,
            receiver,
            sender,
        }
    }
}
