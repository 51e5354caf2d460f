//! What actually went over the wire: capture RTP on a loopback socket, then decode it
//! independently of the product.
//!
//! # What does it do?
//! [`RtpCapture::start`] binds a UDP socket on 127.0.0.1 (give its port to a peer's SDP)
//! and collects every datagram on a background thread until stopped.
//! [`RtpCapture::sniff`] instead copies, through a raw socket (root or `CAP_NET_RAW`), the
//! UDP datagrams addressed to a port another process owns: SIPp's media port, say, to see
//! what a product that latches onto the source of the RTP it receives (symmetric RTP) sends
//! back, since SIPp plays from its media port whatever port its SDP announced. [`analyze`] decodes the
//! datagrams: RFC 4733 events are grouped into key presses (one per event timestamp, E bits
//! and retransmissions folded in), μ-law audio is laid on a timeline by RTP timestamp (gaps
//! are silence), the DSP's DTMF receiver runs over that timeline, and
//! [`WireReport::tone`] looks for a single tone. A test can then say "the far side got
//! 1, 2, 3 as events and no in-band tone" or "heard 1004 Hz at −10 dBm0 for ≥ 900 ms".

use crate::error::{Error, Result};
use crate::rtp::{RtpPacket, TelephoneEvent};
use crate::tone::{self, ToneReport};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tipring_dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};
use tipring_dsp::g711::ulaw_to_linear;

/// Longest audio timeline [`analyze`] builds (10 minutes at 8 kHz); a timestamp jump
/// beyond it is reported in [`WireReport::problems`] and the rest of the stream ignored.
pub const MAX_TIMELINE: usize = 600 * 8000;

/// One received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// When it arrived, after the capture started.
    pub at: Duration,
    /// Its source.
    pub from: SocketAddr,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Collects UDP datagrams on a loopback socket on a background thread. Dropping it stops
/// the thread.
#[derive(Debug)]
pub struct RtpCapture {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Datagram>>>,
    thread: Option<JoinHandle<()>>,
}

impl RtpCapture {
    /// Binds 127.0.0.1 on a free port and starts collecting.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound or configured.
    pub fn start() -> Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Binds `addr` and starts collecting.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound or configured.
    pub fn start_on(addr: SocketAddr) -> Result<Self> {
        let sock =
            UdpSocket::bind(addr).map_err(|e| Error::io(format!("binding UDP {addr}"), e))?;
        sock.set_read_timeout(Some(Duration::from_millis(10)))
            .map_err(|e| Error::io("setting the capture socket's read timeout", e))?;
        let addr = sock
            .local_addr()
            .map_err(|e| Error::io("reading the capture socket's address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (stop2, got2) = (Arc::clone(&stop), Arc::clone(&got));
        let thread = std::thread::Builder::new()
            .name(format!("rtp-capture-{}", addr.port()))
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                collect(&stop2, &got2, || match sock.recv_from(&mut buf) {
                    Ok((n, from)) => Some((from, buf[..n].to_vec())),
                    Err(e) => {
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) {
                            // ICMP errors reported on the socket, or anything else.
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        None
                    }
                })
            })
            .map_err(|e| Error::io("starting the capture thread", e))?;
        Ok(Self {
            addr,
            stop,
            got,
            thread: Some(thread),
        })
    }

    /// Copies the IPv4 UDP datagrams addressed to `port` (on any local address) without
    /// binding it, through a raw socket. [`addr`](Self::addr) is then 127.0.0.1:`port`.
    ///
    /// # Errors
    /// [`Error::Io`] when the raw socket cannot be opened (without root or `CAP_NET_RAW`:
    /// "Operation not permitted") or configured.
    pub fn sniff(port: u16) -> Result<Self> {
        use nix::sys::socket::{
            AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, recv, setsockopt, socket,
            sockopt,
        };
        use std::os::fd::AsRawFd;
        let fd = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Udp,
        )
        .map_err(|e| Error::io("opening a raw UDP socket", e.into()))?;
        setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(0, 10_000),
        )
        .map_err(|e| Error::io("setting the raw socket's read timeout", e.into()))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (stop2, got2) = (Arc::clone(&stop), Arc::clone(&got));
        let thread = std::thread::Builder::new()
            .name(format!("rtp-sniff-{port}"))
            .spawn(move || {
                let mut buf = vec![0u8; 65_536];
                collect(&stop2, &got2, || {
                    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).ok()?;
                    udp_to_port(&buf[..n], port)
                })
            })
            .map_err(|e| Error::io("starting the sniffing thread", e))?;
        Ok(Self {
            addr,
            stop,
            got,
            thread: Some(thread),
        })
    }

    /// The socket's address (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The socket's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Datagrams received so far.
    pub fn count(&self) -> usize {
        self.got.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// Waits until at least `n` datagrams have arrived and then nothing for `idle`, or until
    /// `deadline` has passed; returns the count.
    pub fn wait_quiet(&self, n: usize, idle: Duration, deadline: Duration) -> usize {
        let end = Instant::now() + deadline;
        let (mut last, mut since) = (self.count(), Instant::now());
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
            let c = self.count();
            if c != last {
                (last, since) = (c, Instant::now());
            } else if c >= n && since.elapsed() >= idle {
                break;
            }
        }
        last
    }

    /// Stops collecting and returns everything received.
    pub fn stop(mut self) -> Vec<Datagram> {
        self.halt();
        self.got
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default()
    }

    /// Collects for `d`, then stops.
    pub fn collect_for(self, d: Duration) -> Vec<Datagram> {
        std::thread::sleep(d);
        self.stop()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RtpCapture {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Calls `recv` (which returns within about 10 ms) until `stop`, keeping what it returns.
fn collect(
    stop: &AtomicBool,
    got: &Mutex<Vec<Datagram>>,
    mut recv: impl FnMut() -> Option<(SocketAddr, Vec<u8>)>,
) {
    let t0 = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some((from, data)) = recv()
            && let Ok(mut g) = got.lock()
        {
            g.push(Datagram {
                at: t0.elapsed(),
                from,
                data,
            });
        }
    }
}

/// The source and payload of an IPv4 packet (as a raw socket reads it) if it is UDP to
/// `port`.
fn udp_to_port(ip: &[u8], port: u16) -> Option<(SocketAddr, Vec<u8>)> {
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != 17 {
        return None;
    }
    let udp = ip.get(ihl..)?;
    if u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]) != port {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    let payload = udp.get(8..len.max(8))?;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    Some((SocketAddr::from((src, sport)), payload.to_vec()))
}

/// Which payload types mean what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireConfig {
    /// μ-law audio (default 0).
    pub audio_pt: u8,
    /// telephone-event (default 101).
    pub event_pt: u8,
}

impl Default for WireConfig {
    fn default() -> Self {
        Self {
            audio_pt: 0,
            event_pt: 101,
        }
    }
}

/// One key press seen as RFC 4733 packets (all the packets sharing an event timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireEvent {
    /// Event code.
    pub code: u8,
    /// Its digit (`None` for codes above 15).
    pub digit: Option<char>,
    /// The RTP timestamp shared by its packets.
    pub timestamp: u32,
    /// Packets received for it.
    pub packets: usize,
    /// Whether the first of them had the marker bit.
    pub marker: bool,
    /// The largest duration seen in any of its packets (timestamp units).
    pub max_duration: u16,
    /// The duration in its first end packet, if an E bit was seen.
    pub end_duration: Option<u16>,
    /// Packets with the E bit.
    pub end_packets: usize,
    /// Arrival of its first packet.
    pub first_at: Duration,
    /// Arrival of its last packet.
    pub last_at: Duration,
}

/// A digit the DSP's DTMF receiver found in the decoded audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InbandDigit {
    /// `0-9 * # A-D`.
    pub digit: char,
    /// When it was recognised, on the audio timeline.
    pub at: Duration,
    /// Tone length estimate (±5 ms), when its end was seen.
    pub duration: Option<Duration>,
}

/// What [`analyze`] found.
#[derive(Debug, Clone, Default)]
pub struct WireReport {
    /// Datagrams given.
    pub datagrams: usize,
    /// RTP packets with the audio payload type.
    pub audio_packets: usize,
    /// RTP packets with the event payload type.
    pub event_packets: usize,
    /// RTP packets with any other payload type, by type.
    pub other_payload_types: Vec<(u8, usize)>,
    /// SSRCs in order of appearance.
    pub ssrcs: Vec<u32>,
    /// Packets missing according to sequence-number gaps (per SSRC, no reordering assumed).
    pub seq_gaps: usize,
    /// Key presses sent as events, in order.
    pub events: Vec<WireEvent>,
    /// The decoded audio of the first SSRC, 8 kHz, placed by RTP timestamp.
    pub audio: Vec<i16>,
    /// Digits the DTMF receiver heard in [`audio`](Self::audio).
    pub inband: Vec<InbandDigit>,
    /// Datagrams that were not RTP, or audio that could not be placed, with why.
    pub problems: Vec<String>,
}

impl WireReport {
    /// The digits of the events, in order (codes above 15 as `?`).
    pub fn event_digits(&self) -> String {
        self.events.iter().map(|e| e.digit.unwrap_or('?')).collect()
    }

    /// The digits heard in-band, in order.
    pub fn inband_digits(&self) -> String {
        self.inband.iter().map(|d| d.digit).collect()
    }

    /// Looks for a sine of `freq_hz` in the decoded audio.
    pub fn tone(&self, freq_hz: f32) -> ToneReport {
        tone::detect(&self.audio, freq_hz)
    }

    /// How long the decoded audio is.
    pub fn audio_duration(&self) -> Duration {
        Duration::from_micros(self.audio.len() as u64 * 125)
    }
}

/// Decodes captured datagrams. See the [module docs](self).
pub fn analyze(datagrams: &[Datagram], cfg: &WireConfig) -> WireReport {
    let mut r = WireReport {
        datagrams: datagrams.len(),
        ..WireReport::default()
    };
    let mut last_seq: Vec<(u32, u16)> = Vec::new();
    let mut base_ts: Option<u32> = None;
    let mut audio_done = false;
    for (i, d) in datagrams.iter().enumerate() {
        let p = match RtpPacket::parse(&d.data) {
            Ok(p) => p,
            Err(e) => {
                r.problems
                    .push(format!("datagram {i} from {}: {e}", d.from));
                continue;
            }
        };
        if !r.ssrcs.contains(&p.ssrc) {
            r.ssrcs.push(p.ssrc);
        }
        match last_seq.iter_mut().find(|(s, _)| *s == p.ssrc) {
            Some((_, last)) => {
                let step = p.seq.wrapping_sub(*last);
                if (2..0x8000).contains(&step) {
                    r.seq_gaps += usize::from(step - 1);
                }
                if step != 0 && step < 0x8000 {
                    *last = p.seq;
                }
            }
            None => last_seq.push((p.ssrc, p.seq)),
        }
        if p.payload_type == cfg.event_pt {
            r.event_packets += 1;
            match TelephoneEvent::parse(&p.payload) {
                Ok(ev) => add_event(&mut r.events, &p, &ev, d.at),
                Err(e) => r.problems.push(format!("datagram {i}: {e}")),
            }
        } else if p.payload_type == cfg.audio_pt {
            r.audio_packets += 1;
            if p.ssrc != r.ssrcs[0] || audio_done {
                continue;
            }
            let base = *base_ts.get_or_insert(p.timestamp);
            let off = p.timestamp.wrapping_sub(base) as usize;
            let end = off.saturating_add(p.payload.len());
            if off >= 0x8000_0000 {
                r.problems.push(format!(
                    "datagram {i}: audio timestamp {} is before the first one ({base}); skipped",
                    p.timestamp
                ));
                continue;
            }
            if end > MAX_TIMELINE {
                r.problems.push(format!(
                    "datagram {i}: audio timestamp {} is {off} samples after the first; \
                     the rest of the audio is ignored",
                    p.timestamp
                ));
                audio_done = true;
                continue;
            }
            if r.audio.len() < end {
                r.audio.resize(end, 0);
            }
            for (o, &c) in r.audio[off..end].iter_mut().zip(&p.payload) {
                *o = ulaw_to_linear(c);
            }
        } else {
            match r
                .other_payload_types
                .iter_mut()
                .find(|(pt, _)| *pt == p.payload_type)
            {
                Some((_, n)) => *n += 1,
                None => r.other_payload_types.push((p.payload_type, 1)),
            }
        }
    }
    r.inband = inband_digits(&r.audio);
    r
}

fn add_event(events: &mut Vec<WireEvent>, p: &RtpPacket, ev: &TelephoneEvent, at: Duration) {
    if let Some(w) = events
        .iter_mut()
        .rev()
        .find(|w| w.timestamp == p.timestamp && w.code == ev.event)
    {
        w.packets += 1;
        w.max_duration = w.max_duration.max(ev.duration);
        if ev.end {
            w.end_packets += 1;
            w.end_duration.get_or_insert(ev.duration);
        }
        w.last_at = at;
        return;
    }
    events.push(WireEvent {
        code: ev.event,
        digit: ev.digit(),
        timestamp: p.timestamp,
        packets: 1,
        marker: p.marker,
        max_duration: ev.duration,
        end_duration: ev.end.then_some(ev.duration),
        end_packets: usize::from(ev.end),
        first_at: at,
        last_at: at,
    });
}

/// Runs the DSP's DTMF receiver (default settings) over `audio`, then over 100 ms of
/// silence so that a digit still sounding at the end is ended.
pub fn inband_digits(audio: &[i16]) -> Vec<InbandDigit> {
    let Ok(mut rx) = DtmfRx::new(DtmfRxConfig::default()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    feed(&mut rx, audio, &mut out);
    feed(&mut rx, &[0i16; 800], &mut out);
    out
}

fn feed(rx: &mut DtmfRx, mut rest: &[i16], out: &mut Vec<InbandDigit>) {
    let at = |s: u64| Duration::from_micros(s * 125);
    while !rest.is_empty() {
        let n = rx.process(rest);
        rest = &rest[n..];
        while let Some(e) = rx.poll_event() {
            match e {
                DtmfEvent::Begin { digit, at: s } => out.push(InbandDigit {
                    digit,
                    at: at(s),
                    duration: None,
                }),
                DtmfEvent::End {
                    digit, duration, ..
                } => {
                    if let Some(d) = out.iter_mut().rev().find(|d| d.digit == digit) {
                        d.duration = Some(at(duration));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{DtmfCarriage, DtmfOptions, EventStyle, RtpParams, StreamBuilder};

    fn datagrams(b: &StreamBuilder) -> Vec<Datagram> {
        b.packets()
            .into_iter()
            .map(|t| Datagram {
                at: t.at,
                from: SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
                data: t.packet.to_bytes(),
            })
            .collect()
    }

    fn stream(digits: &str, carriage: DtmfCarriage) -> StreamBuilder {
        let mut b = StreamBuilder::new(RtpParams::default()).unwrap();
        b.silence(200)
            .unwrap()
            .dtmf(
                digits,
                &DtmfOptions {
                    carriage,
                    ..DtmfOptions::default()
                },
            )
            .unwrap()
            .silence(200)
            .unwrap();
        b
    }

    #[test]
    fn events_only() {
        for style in [
            EventStyle::Standard,
            EventStyle::Cisco,
            EventStyle::Pimg,
            EventStyle::NoEnd,
        ] {
            let b = stream("123#", DtmfCarriage::Rfc4733(style));
            let r = analyze(&datagrams(&b), &WireConfig::default());
            assert_eq!(r.event_digits(), "123#", "{style:?}");
            assert_eq!(r.inband_digits(), "", "{style:?}");
            assert_eq!(r.seq_gaps, 0);
            assert!(r.problems.is_empty(), "{:?}", r.problems);
            let e = &r.events[0];
            assert!(e.marker);
            match style {
                EventStyle::NoEnd => {
                    assert_eq!((e.end_duration, e.max_duration), (None, 480))
                }
                EventStyle::Pimg => assert_eq!(e.end_duration, Some(480)),
                _ => assert_eq!((e.end_duration, e.end_packets), (Some(640), 3)),
            }
            if style != EventStyle::NoEnd {
                assert_eq!(e.max_duration, 640);
            }
        }
    }

    #[test]
    fn inband_only_and_both() {
        let b = stream("159D*", DtmfCarriage::InBand);
        let r = analyze(&datagrams(&b), &WireConfig::default());
        assert_eq!(r.event_digits(), "");
        assert_eq!(r.inband_digits(), "159D*");
        let d = r.inband[0].duration.unwrap();
        assert!(d.abs_diff(Duration::from_millis(80)) <= Duration::from_millis(10));
        let b = stream("0#", DtmfCarriage::Both(EventStyle::Cisco));
        let r = analyze(&datagrams(&b), &WireConfig::default());
        assert_eq!(r.event_digits(), "0#");
        assert_eq!(r.inband_digits(), "0#");
    }

    #[test]
    fn gaps_problems_and_other_types() {
        let b = stream("1", DtmfCarriage::InBand);
        let mut d = datagrams(&b);
        d.remove(3);
        d.push(Datagram {
            at: Duration::ZERO,
            from: SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
            data: vec![1, 2, 3],
        });
        let mut odd = RtpPacket::parse(&d[0].data).unwrap();
        odd.payload_type = 13;
        odd.seq = odd.seq.wrapping_sub(1);
        d.insert(
            0,
            Datagram {
                data: odd.to_bytes(),
                ..d[0].clone()
            },
        );
        let r = analyze(&d, &WireConfig::default());
        assert_eq!(r.seq_gaps, 1);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.other_payload_types, vec![(13, 1)]);
        // The lost frame is silence on the timeline; the rest is in place.
        assert_eq!(r.audio.len(), b.samples().len());
    }

    #[test]
    fn raw_packets_are_filtered_by_port() {
        let mut ip = vec![
            0x45, 0, 0, 31, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip.extend_from_slice(&[0x1f, 0x90, 0x13, 0x88, 0, 11, 0, 0, 1, 2, 3]);
        let (from, data) = udp_to_port(&ip, 5000).unwrap();
        assert_eq!(from, SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1), 8080)));
        assert_eq!(data, vec![1, 2, 3]);
        assert!(udp_to_port(&ip, 5001).is_none());
        ip[9] = 6;
        assert!(udp_to_port(&ip, 5000).is_none());
        assert!(udp_to_port(&ip[..25], 5000).is_none());
        assert!(udp_to_port(&[], 5000).is_none());
    }

    #[test]
    fn capture_receives_and_stops() {
        let cap = RtpCapture::start().unwrap();
        let tx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i], cap.addr()).unwrap();
        }
        assert_eq!(
            cap.wait_quiet(5, Duration::from_millis(30), Duration::from_secs(5)),
            5
        );
        let got = cap.stop();
        assert_eq!(got.len(), 5);
        assert_eq!(got[4].data, vec![4]);
        assert_eq!(got[0].from, tx.local_addr().unwrap());
    }
}
