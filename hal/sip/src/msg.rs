//! Parsed messages and the builder for the ones Tipring sends.
//!
//! A received message goes through the pre-parser ([`crate::frame`]) and then rsip, which
//! checks the start line and the request URI; the header fields stay as the pre-parser
//! normalised them, read through [`Message`]'s accessors and the [`crate::hdr`] readers.
//! Messages Tipring sends are written by [`Builder`], which keeps the header order the RFC's
//! examples use and copies the fields a response must echo byte for byte (§8.2.6.2).

use crate::frame::{FrameError, Limits, Prepared, prepare_datagram};
use crate::hdr::{self, NameAddr, Via};
use core::fmt::Write as _;

/// Request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// A request.
    Request {
        /// The method, upper case (`INVITE`).
        method: String,
        /// The Request-URI.
        uri: String,
    },
    /// A response.
    Response {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Start line.
    pub start: StartLine,
    /// Header fields and body.
    pub prep: Prepared,
}

/// Why a received message could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong, for the log and the 400's reason.
    pub reason: String,
    /// The header fields, when the pre-parser got that far (enough to answer a request).
    pub prep: Option<Prepared>,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ParseError {}

impl From<FrameError> for ParseError {
    fn from(e: FrameError) -> Self {
        ParseError {
            reason: e.to_string(),
            prep: None,
        }
    }
}

/// RFC 3261 §25.1's `Request-Line` / `Status-Line`, for what rsip refuses.
fn own_start_line(line: &str) -> Option<StartLine> {
    let mut it = line.split(' ');
    let first = it.next()?;
    if first == "SIP/2.0" {
        let code = it.next()?;
        if code.len() != 3 {
            return None;
        }
        let code: u16 = code.parse().ok()?;
        let reason = it.collect::<Vec<_>>().join(" ");
        return Some(StartLine::Response { code, reason });
    }
    let uri = it.next()?;
    if it.next()? != "SIP/2.0" || it.next().is_some() {
        return None;
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    };
    let (scheme, rest) = uri.split_once(':')?;
    if !token(first)
        || scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        || rest.is_empty()
        || uri
            .bytes()
            .any(|b| b.is_ascii_control() || b == b'<' || b == b'>')
    {
        return None;
    }
    Some(StartLine::Request {
        // Methods are case-sensitive (§7.1): keep the extension method as written.
        method: first.to_string(),
        uri: uri.to_string(),
    })
}

/// The fields every message must carry (RFC 3261 §8.1.1).
const MANDATORY: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];

/// Parses one datagram.
///
/// # Errors
/// [`ParseError`] with the reason, and the header fields when they could be read.
pub fn parse(datagram: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    let prep = prepare_datagram(datagram, limits)?;
    parse_prepared(prep)
}

/// Parses a pre-parsed message (from [`crate::frame::StreamFramer`] or [`parse`]).
///
/// # Errors
/// [`ParseError`] with the reason and the header fields.
pub fn parse_prepared(prep: Prepared) -> Result<Message, ParseError> {
    let fail = |prep: Prepared, reason: String| ParseError {
        reason,
        prep: Some(prep),
    };
    for name in MANDATORY {
        if prep.header(name).is_none() {
            return Err(fail(prep, format!("no {name} header")));
        }
    }
    if hdr::cseq(prep.header("CSeq").unwrap_or_default()).is_none() {
        return Err(fail(prep, "CSeq is not `number METHOD`".into()));
    }
    if prep.headers_named("Via").any(|v| Via::parse(v).is_none()) {
        return Err(fail(
            prep,
            "a Via header is not `SIP/2.0/transport host`".into(),
        ));
    }
    for name in ["From", "To"] {
        if NameAddr::parse(prep.header(name).unwrap_or_default()).is_none() {
            return Err(fail(prep, format!("{name} is not a name-addr")));
        }
    }
    // rsip checks the start line and the URI grammar. It refuses some messages RFC 4475
    // §3.1.1 calls valid (extension methods with `%`, a `;` in a URI's user part, an empty
    // reason phrase): those get our own start-line grammar instead.
    let start = match rsip::SipMessage::try_from(prep.to_bytes().as_slice()) {
        Ok(rsip::SipMessage::Request(r)) => StartLine::Request {
            method: r.method.to_string().to_ascii_uppercase(),
            uri: r.uri.to_string(),
        },
        Ok(rsip::SipMessage::Response(r)) => StartLine::Response {
            code: r.status_code.code(),
            reason: prep
                .start
                .splitn(3, ' ')
                .nth(2)
                .unwrap_or_default()
                .to_string(),
        },
        Err(_) => match own_start_line(&prep.start) {
            Some(s) => s,
            None => return Err(fail(prep, "unreadable start line".into())),
        },
    };
    if let StartLine::Request { method, .. } = &start {
        let cseq_method = hdr::cseq(prep.header("CSeq").unwrap_or_default()).map(|c| c.1);
        if cseq_method != Some(method.as_str()) && method != "ACK" && method != "CANCEL" {
            return Err(fail(prep, format!("CSeq method is not {method}")));
        }
    }
    if let StartLine::Response { code, .. } = &start
        && !(100..700).contains(code)
    {
        return Err(fail(prep, format!("status code {code} is out of range")));
    }
    Ok(Message { start, prep })
}

impl Message {
    /// The method of a request, or of the request a response answers (from `CSeq`).
    pub fn method(&self) -> &str {
        match &self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self.cseq().1,
        }
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// A header's first value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.prep.header(name)
    }

    /// `Call-ID`.
    pub fn call_id(&self) -> &str {
        self.prep.header("Call-ID").unwrap_or_default()
    }

    /// `CSeq` number and method (checked by [`parse`]).
    pub fn cseq(&self) -> (u32, &str) {
        hdr::cseq(self.prep.header("CSeq").unwrap_or_default()).unwrap_or((0, ""))
    }

    /// `From` (checked by [`parse`]).
    pub fn from(&self) -> NameAddr {
        NameAddr::parse(self.prep.header("From").unwrap_or_default()).unwrap_or_default()
    }

    /// `To` (checked by [`parse`]).
    pub fn to(&self) -> NameAddr {
        NameAddr::parse(self.prep.header("To").unwrap_or_default()).unwrap_or_default()
    }

    /// The topmost `Via` (checked by [`parse`]).
    pub fn top_via(&self) -> Option<Via> {
        self.prep.header("Via").and_then(Via::parse)
    }

    /// The first `Contact`.
    pub fn contact(&self) -> Option<NameAddr> {
        self.prep.header("Contact").and_then(NameAddr::parse)
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.prep.body
    }

    /// True when the body is SDP.
    pub fn has_sdp(&self) -> bool {
        !self.prep.body.is_empty()
            && self.header("Content-Type").is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/sdp"))
            })
    }

    /// Option tags listed in `name` (`Require`, `Supported`).
    pub fn option_tags(&self, name: &str) -> Vec<String> {
        self.prep
            .headers_named(name)
            .flat_map(hdr::option_tags)
            .collect()
    }
}

/// Writes a message.
#[derive(Debug, Clone)]
pub struct Builder {
    text: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
}

impl Builder {
    /// A request line.
    pub fn request(method: &str, uri: &str) -> Builder {
        Builder {
            text: format!("{method} {uri} SIP/2.0\r\n"),
            body: Vec::new(),
            content_type: None,
        }
    }

    /// A status line.
    pub fn status(code: u16, reason: &str) -> Builder {
        Builder {
            text: format!("SIP/2.0 {code} {reason}\r\n"),
            body: Vec::new(),
            content_type: None,
        }
    }

    /// A response to `req`, echoing its `Via`s, `From`, `To` (with `to_tag` added when it has
    /// none), `Call-ID` and `CSeq` (RFC 3261 §8.2.6.2).
    pub fn response(req: &Prepared, code: u16, reason: &str, to_tag: Option<&str>) -> Builder {
        let mut b = Builder::status(code, reason);
        for v in req.headers_named("Via") {
            b = b.header("Via", v);
        }
        for name in ["From", "To", "Call-ID", "CSeq"] {
            let Some(v) = req.header(name) else { continue };
            if name == "To"
                && let Some(tag) = to_tag
                && NameAddr::parse(v).is_some_and(|t| t.tag().is_none())
            {
                b = b.header("To", &format!("{v};tag={tag}"));
                continue;
            }
            b = b.header(name, v);
        }
        b
    }

    /// Adds a header field.
    pub fn header(mut self, name: &str, value: &str) -> Builder {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    /// Sets the body and its type.
    pub fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Builder {
        self.content_type = Some(content_type);
        self.body = body.into();
        self
    }

    /// The message bytes, with `Content-Type` and `Content-Length`.
    pub fn build(self) -> Vec<u8> {
        let mut t = self.text;
        if let Some(ct) = self.content_type {
            let _ = write!(t, "Content-Type: {ct}\r\n");
        }
        let _ = write!(t, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = t.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Vec<u8> {
        Builder::request("INVITE", "sip:1000@127.0.0.1:5060")
            .header("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1;rport")
            .header("From", "\"Alice\" <sip:alice@127.0.0.1>;tag=a1")
            .header("To", "<sip:1000@127.0.0.1>")
            .header("Call-ID", "c1@127.0.0.1")
            .header("CSeq", "1 INVITE")
            .header("Max-Forwards", "70")
            .body("application/sdp", "v=0\r\n")
            .build()
    }

    #[test]
    fn builds_parses_and_answers() {
        let m = parse(&invite(), &Limits::default()).unwrap();
        assert_eq!(m.method(), "INVITE");
        assert_eq!(m.uri(), Some("sip:1000@127.0.0.1:5060"));
        assert_eq!(m.from().tag(), Some("a1"));
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK-1"));
        assert!(m.has_sdp());
        let r = Builder::response(&m.prep, 180, "Ringing", Some("t9")).build();
        let r = parse(&r, &Limits::default()).unwrap();
        assert_eq!(r.code(), Some(180));
        assert_eq!(r.method(), "INVITE");
        assert_eq!(r.to().tag(), Some("t9"));
        assert_eq!(r.call_id(), "c1@127.0.0.1");
    }

    #[test]
    fn missing_mandatory_fields_keep_what_was_read() {
        let m = String::from_utf8(invite())
            .unwrap()
            .replace("Call-ID: c1@127.0.0.1\r\n", "");
        let e = parse(m.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(e.reason, "no Call-ID header");
        assert!(e.prep.unwrap().header("Via").is_some());
        let m = String::from_utf8(invite())
            .unwrap()
            .replace("1 INVITE", "1 BYE");
        assert_eq!(
            parse(m.as_bytes(), &Limits::default()).unwrap_err().reason,
            "CSeq method is not INVITE"
        );
    }
}
