//! SDP for audio trunks (RFC 4566) and the offer/answer rules (RFC 3264).
//!
//! **What it does.** [`Sdp::parse`] reads a session description tolerantly (CRLF or LF,
//! unknown lines skipped, every media section kept so that an answer can refuse the ones we
//! don't take with port 0). [`answer`] picks, from an offer, the first audio stream and the
//! first codec in *our* preference order that the offer lists, plus telephone-event with the
//! peer's payload type; [`offer`] and [`Sdp::render`] write ours; [`Negotiated::from_answer`]
//! reads the peer's answer to our offer.
//!
//! **How it works.** Static payload types (0 PCMU, 8 PCMA) are known without `a=rtpmap`;
//! dynamic ones are matched by encoding name and clock rate. Hold is read from the direction
//! attributes or, for RFC 2543 peers, `c=IN IP4 0.0.0.0`. The answer keeps the offer's
//! payload type numbers, as RFC 3264 §6.1 asks (some PBXs cannot follow a renumbering).

use core::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// A codec Tipring speaks on RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, PT 0.
    Pcmu,
    /// G.711 A-law, PT 8.
    Pcma,
    /// Opus (RFC 7587), dynamic PT, `opus/48000/2`.
    Opus,
}

impl Codec {
    /// The encoding name in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
        }
    }

    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::Opus => 48_000,
        }
    }

    /// The static payload type, if any.
    pub fn static_pt(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::Opus => None,
        }
    }

    /// Reads a codec name from configuration (`pcmu`, `pcma`, `opus`).
    pub fn from_name(s: &str) -> Option<Codec> {
        match s.to_ascii_lowercase().as_str() {
            "pcmu" | "ulaw" => Some(Codec::Pcmu),
            "pcma" | "alaw" => Some(Codec::Pcma),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }
}

/// Media direction (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Both ways.
    #[default]
    SendRecv,
    /// The describing side only sends.
    SendOnly,
    /// The describing side only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes to an offer with this one.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// One `a=rtpmap` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name as written.
    pub name: String,
    /// Clock rate.
    pub rate: u32,
    /// Channels, if written.
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// `audio`, `video`, `image`…
    pub kind: String,
    /// Transport port (0: refused or disabled).
    pub port: u16,
    /// `RTP/AVP`, `RTP/SAVP`, `udptl`…
    pub proto: String,
    /// The format list as written (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// `a=rtpmap` entries.
    pub rtpmap: Vec<RtpMap>,
    /// `a=fmtp` entries.
    pub fmtp: Vec<(u8, String)>,
    /// `a=ptime`, ms.
    pub ptime: Option<u32>,
    /// Direction attribute (sendrecv when absent).
    pub direction: Direction,
    /// The section's own `c=` address.
    pub connection: Option<IpAddr>,
}

impl Media {
    /// Payload types in the format list (non-numbers skipped).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// The payload type this section uses for `codec`, if it lists it.
    pub fn pt_of(&self, codec: Codec) -> Option<u8> {
        self.payload_types().find(|&pt| match self.map_of(pt) {
            Some(m) => m.name.eq_ignore_ascii_case(codec.name()) && m.rate == codec.clock_rate(),
            None => Some(pt) == codec.static_pt(),
        })
    }

    /// The telephone-event/8000 payload type, if listed.
    pub fn event_pt(&self) -> Option<u8> {
        self.payload_types().find(|&pt| {
            self.map_of(pt)
                .is_some_and(|m| m.name.eq_ignore_ascii_case("telephone-event") && m.rate == 8000)
        })
    }

    fn map_of(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmap.iter().find(|m| m.pt == pt)
    }
}

/// A session description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdp {
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version.
    pub version: u64,
    /// `o=` address.
    pub origin_addr: String,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction.
    pub direction: Option<Direction>,
    /// Media sections in order.
    pub media: Vec<Media>,
}

/// Why SDP was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body is not text.
    #[error("SDP is not UTF-8 text")]
    NotText,
    /// A line that SDP requires is missing or unreadable.
    #[error("SDP line {line}: {what}")]
    Bad {
        /// 1-based line number (0 for the whole description).
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// No audio stream we can take (answer with 488 Not Acceptable Here).
    #[error("no acceptable audio stream: {0}")]
    NotAcceptable(&'static str),
}

impl Sdp {
    /// Reads a session description.
    ///
    /// # Errors
    /// [`SdpError`] naming the line.
    pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
        let text = core::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
        let mut sdp = Sdp::default();
        let mut seen_v = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim_end_matches('\r');
            if raw.trim().is_empty() {
                continue;
            }
            let bad = |what| SdpError::Bad { line, what };
            let (kind, value) = raw.split_once('=').ok_or(bad("not type=value"))?;
            let value = value.trim();
            match kind.trim() {
                "v" => {
                    if value != "0" {
                        return Err(bad("version is not 0"));
                    }
                    seen_v = true;
                }
                "o" => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    if f.len() != 6 {
                        return Err(bad("o= needs six fields"));
                    }
                    sdp.session_id = f[1].parse().unwrap_or(0);
                    sdp.version = f[2].parse().unwrap_or(0);
                    sdp.origin_addr = f[5].to_string();
                }
                "c" => {
                    let addr =
                        parse_connection(value).ok_or(bad("c= is not IN IP4/IP6 address"))?;
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(addr),
                        None => sdp.connection = Some(addr),
                    }
                }
                "m" => {
                    let mut f = value.split_whitespace();
                    let kind = f.next().ok_or(bad("m= has no media"))?.to_string();
                    let port = f
                        .next()
                        .and_then(|p| p.split('/').next()?.parse().ok())
                        .ok_or(bad("m= port is not a number"))?;
                    let proto = f.next().ok_or(bad("m= has no protocol"))?.to_string();
                    sdp.media.push(Media {
                        kind,
                        port,
                        proto,
                        formats: f.map(str::to_string).collect(),
                        ..Media::default()
                    });
                }
                "a" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    let Some(m) = sdp.media.last_mut() else {
                        if dir.is_some() {
                            sdp.direction = dir;
                        }
                        continue;
                    };
                    if let Some(d) = dir {
                        m.direction = d;
                        continue;
                    }
                    match name {
                        "rtpmap" => {
                            if let Some(map) = parse_rtpmap(arg) {
                                m.rtpmap.push(map);
                            }
                        }
                        "fmtp" => {
                            if let Some((pt, p)) = arg.split_once(' ')
                                && let Ok(pt) = pt.parse()
                            {
                                m.fmtp.push((pt, p.trim().to_string()));
                            }
                        }
                        "ptime" => m.ptime = arg.trim().parse().ok(),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !seen_v {
            return Err(SdpError::Bad {
                line: 0,
                what: "no v= line",
            });
        }
        if sdp.media.is_empty() {
            return Err(SdpError::Bad {
                line: 0,
                what: "no m= line",
            });
        }
        if let Some(d) = sdp.direction {
            for m in &mut sdp.media {
                if m.direction == Direction::SendRecv {
                    m.direction = d;
                }
            }
        }
        Ok(sdp)
    }

    /// Writes the description (CRLF line ends).
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(256);
        let addr = |a: &IpAddr| match a {
            IpAddr::V4(v) => format!("IN IP4 {v}"),
            IpAddr::V6(v) => format!("IN IP6 {v}"),
        };
        let _ = write!(s, "v=0\r\no=tipring {} {} ", self.session_id, self.version);
        let origin = self
            .connection
            .map(|c| addr(&c))
            .unwrap_or_else(|| format!("IN IP4 {}", self.origin_addr));
        let _ = write!(s, "{origin}\r\ns=tipring\r\n");
        if let Some(c) = &self.connection {
            let _ = write!(s, "c={}\r\n", addr(c));
        }
        s.push_str("t=0 0\r\n");
        for m in &self.media {
            let _ = write!(s, "m={} {} {}", m.kind, m.port, m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                let _ = write!(s, "c={}\r\n", addr(c));
            }
            if m.port == 0 {
                continue;
            }
            for r in &m.rtpmap {
                let _ = write!(s, "a=rtpmap:{} {}/{}", r.pt, r.name, r.rate);
                if let Some(c) = r.channels {
                    let _ = write!(s, "/{c}");
                }
                s.push_str("\r\n");
            }
            for (pt, p) in &m.fmtp {
                let _ = write!(s, "a=fmtp:{pt} {p}\r\n");
            }
            if let Some(p) = m.ptime {
                let _ = write!(s, "a=ptime:{p}\r\n");
            }
            let _ = write!(s, "a={}\r\n", m.direction.attr());
        }
        s
    }
}

fn parse_connection(v: &str) -> Option<IpAddr> {
    let mut f = v.split_whitespace();
    if f.next()? != "IN" {
        return None;
    }
    let fam = f.next()?;
    let addr = f.next()?.split('/').next()?;
    let ip: IpAddr = addr.parse().ok()?;
    match (fam, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, enc) = arg.trim().split_once(' ')?;
    let mut f = enc.trim().split('/');
    Some(RtpMap {
        pt: pt.parse().ok()?,
        name: f.next()?.to_string(),
        rate: f.next()?.parse().ok()?,
        channels: f.next().and_then(|c| c.parse().ok()),
    })
}

/// What we are willing to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    /// Offer and accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// The packet time we send, ms (10, 20 or 30).
    pub ptime: u32,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: 20,
        }
    }
}

/// The media both sides agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec.
    pub codec: Codec,
    /// Its payload type (the same both ways: we answer with the offer's numbers).
    pub pt: u8,
    /// telephone-event's payload type, when both sides take RFC 4733.
    pub event_pt: Option<u8>,
    /// Where to send RTP (`None` while on hold with `c=0.0.0.0`).
    pub remote: Option<SocketAddr>,
    /// The peer's packet time, ms (20 when it gives none).
    pub remote_ptime: u32,
    /// Our direction.
    pub direction: Direction,
}

impl Negotiated {
    /// Reads the peer's answer to our offer made with `caps`.
    ///
    /// # Errors
    /// [`SdpError::NotAcceptable`] when the answer picks nothing we offered.
    pub fn from_answer(answer: &Sdp, caps: &Capabilities) -> Result<Negotiated, SdpError> {
        let m = answer
            .media
            .iter()
            .find(|m| m.kind == "audio" && m.port != 0)
            .ok_or(SdpError::NotAcceptable("the answer has no audio stream"))?;
        // The answerer's first format is what it will send.
        let (codec, pt) = m
            .payload_types()
            .find_map(|pt| {
                caps.codecs
                    .iter()
                    .find(|c| m.pt_of(**c) == Some(pt))
                    .map(|c| (*c, pt))
            })
            .ok_or(SdpError::NotAcceptable(
                "the answer picks no codec we offered",
            ))?;
        Ok(Negotiated {
            codec,
            pt,
            event_pt: if caps.telephone_event {
                m.event_pt()
            } else {
                None
            },
            remote: remote_of(answer, m),
            remote_ptime: m.ptime.unwrap_or(20),
            direction: m.direction.answer(),
        })
    }
}

fn remote_of(sdp: &Sdp, m: &Media) -> Option<SocketAddr> {
    let ip = m.connection.or(sdp.connection)?;
    if ip.is_unspecified() {
        return None;
    }
    Some(SocketAddr::new(ip, m.port))
}

/// Our offer: one audio stream at `local` with `caps`.
pub fn offer(local: SocketAddr, caps: &Capabilities, session_id: u64, version: u64) -> Sdp {
    let mut m = Media {
        kind: "audio".into(),
        port: local.port(),
        proto: "RTP/AVP".into(),
        ptime: Some(caps.ptime),
        ..Media::default()
    };
    let mut next_dynamic = 96u8;
    for c in &caps.codecs {
        let pt = c.static_pt().unwrap_or_else(|| {
            let p = next_dynamic;
            next_dynamic += 1;
            p
        });
        m.formats.push(pt.to_string());
        m.rtpmap.push(RtpMap {
            pt,
            name: c.name().into(),
            rate: c.clock_rate(),
            channels: (*c == Codec::Opus).then_some(2),
        });
        if *c == Codec::Opus {
            m.fmtp.push((pt, "useinbandfec=1".into()));
        }
    }
    if caps.telephone_event {
        m.formats.push("101".into());
        m.rtpmap.push(RtpMap {
            pt: 101,
            name: "telephone-event".into(),
            rate: 8000,
            channels: None,
        });
        m.fmtp.push((101, "0-16".into()));
    }
    Sdp {
        session_id,
        version,
        origin_addr: local.ip().to_string(),
        connection: Some(local.ip()),
        direction: None,
        media: vec![m],
    }
}

/// Answers `offer` from `local` with `caps`: the first audio stream gets our best codec the
/// offer lists; every other stream is refused with port 0 (RFC 3264 §6).
///
/// # Errors
/// [`SdpError::NotAcceptable`] when no audio stream shares a codec with us (488).
pub fn answer(
    offer: &Sdp,
    local: SocketAddr,
    caps: &Capabilities,
    session_id: u64,
    version: u64,
) -> Result<(Sdp, Negotiated), SdpError> {
    let mut chosen: Option<(usize, Codec, u8)> = None;
    'streams: for (i, m) in offer.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 || !m.proto.starts_with("RTP/AVP") {
            continue;
        }
        for c in &caps.codecs {
            if let Some(pt) = m.pt_of(*c) {
                chosen = Some((i, *c, pt));
                break 'streams;
            }
        }
    }
    let (idx, codec, pt) = chosen.ok_or(SdpError::NotAcceptable(
        "the offer has no RTP/AVP audio stream with PCMU, PCMA or Opus",
    ))?;
    let om = &offer.media[idx];
    let event_pt = if caps.telephone_event {
        om.event_pt()
    } else {
        None
    };
    let direction = om.direction.answer();
    let mut media = Vec::with_capacity(offer.media.len());
    for (i, m) in offer.media.iter().enumerate() {
        if i != idx {
            media.push(Media {
                kind: m.kind.clone(),
                port: 0,
                proto: m.proto.clone(),
                formats: m.formats.clone(),
                ..Media::default()
            });
            continue;
        }
        let mut a = Media {
            kind: "audio".into(),
            port: local.port(),
            proto: m.proto.clone(),
            formats: vec![pt.to_string()],
            ptime: Some(caps.ptime),
            direction,
            ..Media::default()
        };
        a.rtpmap.push(RtpMap {
            pt,
            name: codec.name().into(),
            rate: codec.clock_rate(),
            channels: (codec == Codec::Opus).then_some(2),
        });
        if let Some(ept) = event_pt {
            a.formats.push(ept.to_string());
            a.rtpmap.push(RtpMap {
                pt: ept,
                name: "telephone-event".into(),
                rate: 8000,
                channels: None,
            });
            a.fmtp.push((ept, "0-16".into()));
        }
        media.push(a);
    }
    let negotiated = Negotiated {
        codec,
        pt,
        event_pt,
        remote: remote_of(offer, om),
        remote_ptime: om.ptime.unwrap_or(20),
        direction,
    };
    let sdp = Sdp {
        session_id,
        version,
        origin_addr: local.ip().to_string(),
        connection: Some(local.ip()),
        direction: None,
        media,
    };
    Ok((sdp, negotiated))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n\
        m=video 7000 RTP/AVP 31\r\n";

    #[test]
    fn answer_keeps_our_preference_and_their_numbers_rfc3264_6_1() {
        let offer = Sdp::parse(SIPP_OFFER.as_bytes()).unwrap();
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let (ans, neg) = answer(&offer, local, &Capabilities::default(), 1, 1).unwrap();
        assert_eq!(neg.codec, Codec::Pcmu);
        assert_eq!(neg.pt, 0);
        assert_eq!(neg.event_pt, Some(101));
        assert_eq!(neg.remote, Some("127.0.0.1:6000".parse().unwrap()));
        let text = ans.render();
        assert!(text.contains("m=audio 20000 RTP/AVP 0 101\r\n"), "{text}");
        // The video stream is refused with port 0, in place (§6).
        assert!(text.contains("m=video 0 RTP/AVP 31\r\n"), "{text}");
        let back = Sdp::parse(text.as_bytes()).unwrap();
        let n2 = Negotiated::from_answer(&back, &Capabilities::default()).unwrap();
        assert_eq!((n2.codec, n2.pt, n2.event_pt), (Codec::Pcmu, 0, Some(101)));
    }

    #[test]
    fn hold_forms_and_refusals() {
        let held = SIPP_OFFER
            .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")
            .replace(
                "a=fmtp:101 0-11,16\r\n",
                "a=fmtp:101 0-11,16\r\na=sendonly\r\n",
            );
        let offer = Sdp::parse(held.as_bytes()).unwrap();
        let local: SocketAddr = "127.0.0.1:20000".parse().unwrap();
        let (_, neg) = answer(&offer, local, &Capabilities::default(), 1, 2).unwrap();
        assert_eq!(neg.remote, None);
        assert_eq!(neg.direction, Direction::RecvOnly);
        let g729 = SIPP_OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18");
        let offer = Sdp::parse(g729.as_bytes()).unwrap();
        assert!(matches!(
            answer(&offer, local, &Capabilities::default(), 1, 1),
            Err(SdpError::NotAcceptable(_))
        ));
        assert!(matches!(
            Sdp::parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(SdpError::Bad { line: 2, .. })
        ));
        assert!(Sdp::parse(b"o=- 1 1 IN IP4 h\r\n").is_err());
    }

    #[test]
    fn dynamic_opus_is_matched_by_name_and_rate() {
        let o = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
            m=audio 4000 RTP/AVP 111 0\na=rtpmap:111 opus/48000/2\na=ptime:30\n";
        let offer = Sdp::parse(o.as_bytes()).unwrap();
        let caps = Capabilities {
            codecs: vec![Codec::Opus, Codec::Pcmu],
            ..Capabilities::default()
        };
        let local: SocketAddr = "10.0.0.2:4002".parse().unwrap();
        let (ans, neg) = answer(&offer, local, &caps, 1, 1).unwrap();
        assert_eq!(
            (neg.codec, neg.pt, neg.remote_ptime, neg.event_pt),
            (Codec::Opus, 111, 30, None)
        );
        assert!(ans.render().contains("a=rtpmap:111 opus/48000/2"));
        let ours = offer_sdp_round_trip(&caps);
        assert_eq!(ours.media[0].pt_of(Codec::Opus), Some(96));
    }

    fn offer_sdp_round_trip(caps: &Capabilities) -> Sdp {
        let local: SocketAddr = "10.0.0.2:4002".parse().unwrap();
        Sdp::parse(offer(local, caps, 7, 1).render().as_bytes()).unwrap()
    }
}
