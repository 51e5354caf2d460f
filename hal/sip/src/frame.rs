//! The pre-parser: what stands between the wire and rsip.
//!
//! **What it does.** It takes one datagram (UDP) or the bytes of a stream (TCP), finds where
//! each message ends, and hands rsip a normalised copy it can parse: continuation lines
//! unfolded (RFC 3261 §7.3.1), compact header names expanded (§7.3.3), comma-separated
//! `Via`, `Route`, `Record-Route` and `Contact` values split one per line (rsip's typed
//! parsers read only the first), whitespace around the colon removed, and the body cut to
//! `Content-Length` (§18.3: a UDP datagram may carry padding after the body). It enforces the
//! configured [`Limits`] before anything is allocated in proportion to the input.
//!
//! **How it works.** One pass over the header section collects `(name, value)` pairs into a
//! [`Prepared`], which keeps them for the caller (so a message rsip cannot parse can still be
//! answered with a `400` that echoes its `Via`, `From`, `To`, `Call-ID` and `CSeq`) and renders
//! the canonical bytes. On streams, [`StreamFramer`] accumulates bytes and pops whole messages
//! by `Content-Length`, which a stream message must carry; CRLF keep-alives (RFC 5626 §3.5.1)
//! between messages are skipped and reported so the transport can answer them.

use core::fmt;

/// Size limits applied to every message before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line, headers and body), in bytes.
    pub max_message: usize,
    /// Most header fields (after splitting comma-separated values).
    pub max_headers: usize,
    /// Longest header field (name and unfolded value), in bytes.
    pub max_header: usize,
    /// Largest body, in bytes.
    pub max_body: usize,
}

impl Default for Limits {
    /// 64 KiB messages, 128 header fields, 8 KiB per field, 32 KiB bodies: an INVITE with a
    /// generous SDP is about 1.5 KiB, so these leave room for any real PBX and none for abuse.
    fn default() -> Self {
        Limits {
            max_message: 65_535,
            max_headers: 128,
            max_header: 8_192,
            max_body: 32_768,
        }
    }
}

/// Why a message was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Nothing but whitespace.
    Empty,
    /// The message is larger than [`Limits::max_message`].
    MessageTooLarge {
        /// Its size (or the size seen so far).
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// No empty line ends the header section.
    NoEndOfHeaders,
    /// The header section is not UTF-8 text.
    NotText,
    /// A line in the header section is neither `name: value` nor a continuation.
    BadHeaderLine {
        /// 1-based line number in the message.
        line: usize,
    },
    /// More header fields than [`Limits::max_headers`].
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// A header field longer than [`Limits::max_header`].
    HeaderTooLong {
        /// The header's name.
        name: String,
        /// The limit.
        limit: usize,
    },
    /// `Content-Length` is not a number, or two disagree.
    BadContentLength,
    /// A stream message has no `Content-Length` (RFC 3261 §18.3 requires it on streams).
    MissingContentLength,
    /// `Content-Length` says more than the datagram holds.
    BodyTruncated {
        /// What `Content-Length` said.
        declared: usize,
        /// What arrived.
        received: usize,
    },
    /// The body is larger than [`Limits::max_body`].
    BodyTooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Empty => f.write_str("empty message"),
            FrameError::MessageTooLarge { bytes, limit } => {
                write!(f, "message of {bytes} bytes is over the {limit}-byte limit")
            }
            FrameError::NoEndOfHeaders => f.write_str("no empty line ends the headers"),
            FrameError::NotText => f.write_str("the header section is not UTF-8 text"),
            FrameError::BadHeaderLine { line } => {
                write!(f, "line {line} is not a header field")
            }
            FrameError::TooManyHeaders { limit } => {
                write!(f, "more than {limit} header fields")
            }
            FrameError::HeaderTooLong { name, limit } => {
                write!(f, "header {name} is over the {limit}-byte limit")
            }
            FrameError::BadContentLength => f.write_str("bad Content-Length"),
            FrameError::MissingContentLength => {
                f.write_str("no Content-Length on a stream transport")
            }
            FrameError::BodyTruncated { declared, received } => write!(
                f,
                "Content-Length {declared} but only {received} bytes of body arrived"
            ),
            FrameError::BodyTooLarge { bytes, limit } => {
                write!(f, "body of {bytes} bytes is over the {limit}-byte limit")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A message's header fields, normalised, and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The start line, whitespace-trimmed.
    pub start: String,
    /// Header fields in order: canonical name (compact forms expanded) and trimmed,
    /// unfolded value; comma-separated values of list headers split one per entry.
    pub headers: Vec<(String, String)>,
    /// The body, exactly `Content-Length` bytes.
    pub body: Vec<u8>,
}

impl Prepared {
    /// The first value of header `name` (case-insensitive, canonical or compact).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_ref()))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True for a request (the start line doesn't begin with `SIP/`).
    pub fn is_request(&self) -> bool {
        !self.start.starts_with("SIP/")
    }

    /// The request method, for a request.
    pub fn method(&self) -> Option<&str> {
        if self.is_request() {
            self.start.split(' ').next()
        } else {
            None
        }
    }

    /// The canonical bytes rsip parses: start line, one field per line, `Content-Length`
    /// rewritten to the body's length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            self.start.len()
                + self
                    .headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 4)
                    .sum::<usize>()
                + self.body.len()
                + 32,
        );
        out.extend_from_slice(self.start.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("Content-Length") {
                continue;
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// Expands a compact header name (RFC 3261 §7.3.3 and the extensions' registrations) and
/// canonicalises the case of the names Tipring reads; other names are returned as given.
pub fn canonical_name(name: &str) -> std::borrow::Cow<'_, str> {
    const COMPACT: &[(&str, &str)] = &[
        ("a", "Accept-Contact"),
        ("b", "Referred-By"),
        ("c", "Content-Type"),
        ("d", "Request-Disposition"),
        ("e", "Content-Encoding"),
        ("f", "From"),
        ("i", "Call-ID"),
        ("j", "Reject-Contact"),
        ("k", "Supported"),
        ("l", "Content-Length"),
        ("m", "Contact"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("s", "Subject"),
        ("t", "To"),
        ("u", "Allow-Events"),
        ("v", "Via"),
        ("x", "Session-Expires"),
        ("y", "Identity"),
    ];
    const KNOWN: &[&str] = &[
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Max-Forwards",
        "Route",
        "Record-Route",
        "Content-Type",
        "Content-Length",
        "Expires",
        "Min-Expires",
        "Require",
        "Supported",
        "Proxy-Require",
        "Unsupported",
        "Allow",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Authorization",
        "Proxy-Authorization",
        "Session-Expires",
        "Min-SE",
        "RSeq",
        "RAck",
        "Reason",
        "P-Asserted-Identity",
        "Privacy",
        "Diversion",
        "Retry-After",
        "User-Agent",
        "Server",
        "Event",
        "Subject",
    ];
    if name.len() == 1 {
        for (short, long) in COMPACT {
            if name.eq_ignore_ascii_case(short) {
                return std::borrow::Cow::Borrowed(long);
            }
        }
    }
    for k in KNOWN {
        if name.eq_ignore_ascii_case(k) {
            return std::borrow::Cow::Borrowed(k);
        }
    }
    std::borrow::Cow::Borrowed(name)
}

/// Headers whose comma-separated values are split one per field (RFC 3261 §7.3.1 allows
/// either form; rsip's typed parsers read only one value per field).
fn is_split_list(name: &str) -> bool {
    matches!(name, "Via" | "Route" | "Record-Route" | "Contact")
}

/// Splits `v` at commas outside quoted strings and angle brackets.
fn split_list(v: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut angle, mut escaped) = (0, false, false, false);
    for (i, c) in v.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&v[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

/// Removes the whitespace RFC 3261's grammar allows around `/` in a `Via`'s protocol
/// (`SIP / 2.0 / UDP`), which rsip doesn't accept.
fn tidy_via(v: &str) -> String {
    // The sent-protocol is the three tokens before the sent-by host.
    let mut out = String::with_capacity(v.len());
    let mut rest = v.trim_start();
    for i in 0..3 {
        let token_end = rest
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(rest.len());
        out.push_str(&rest[..token_end]);
        rest = rest[token_end..].trim_start();
        if i < 2 {
            match rest.strip_prefix('/') {
                Some(r) => {
                    out.push('/');
                    rest = r.trim_start();
                }
                None => return v.trim().to_string(),
            }
        }
    }
    out.push(' ');
    // Parameters: drop whitespace around ';' and '='.
    let mut prev_sep = false;
    let mut pending_space = false;
    for c in rest.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if c == ';' || c == '=' {
            out.push(c);
            prev_sep = true;
            pending_space = false;
            continue;
        }
        if pending_space && !prev_sep && !out.ends_with(' ') {
            out.push(' ');
        }
        pending_space = false;
        prev_sep = false;
        out.push(c);
    }
    out.trim_end().to_string()
}

/// Finds the end of the header section: the offset of the empty line's first byte and the
/// offset of the body. Accepts CRLF and bare LF line ends.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // The line after this LF is empty when the next byte is LF, or CR LF.
            if buf.get(i + 1) == Some(&b'\n') {
                return Some((i + 1, i + 2));
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some((i + 1, i + 3));
            }
        }
        i += 1;
    }
    None
}

/// Strips leading CRLFs (keep-alives, and RFC 3261 §7.5's tolerance of empty lines before a
/// message); returns how many bytes were skipped.
fn leading_blank(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count()
}

/// Pre-parses one UDP datagram.
///
/// # Errors
/// A [`FrameError`] saying what is wrong; the caller answers `400` when the message is a
/// request whose `Via` it can read (see [`prepare_head`]), and drops it otherwise.
pub fn prepare_datagram(datagram: &[u8], limits: &Limits) -> Result<Prepared, FrameError> {
    if datagram.len() > limits.max_message {
        return Err(FrameError::MessageTooLarge {
            bytes: datagram.len(),
            limit: limits.max_message,
        });
    }
    let skip = leading_blank(datagram);
    let buf = &datagram[skip..];
    if buf.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FrameError::Empty);
    }
    let (head_end, body_start) = find_head_end(buf).ok_or(FrameError::NoEndOfHeaders)?;
    let mut p = prepare_head(&buf[..head_end], limits)?;
    let available = buf.len() - body_start;
    let declared = content_length(&p)?;
    let len = match declared {
        Some(n) if n > available => {
            return Err(FrameError::BodyTruncated {
                declared: n,
                received: available,
            });
        }
        Some(n) => n,
        None => available,
    };
    if len > limits.max_body {
        return Err(FrameError::BodyTooLarge {
            bytes: len,
            limit: limits.max_body,
        });
    }
    p.body = buf[body_start..body_start + len].to_vec();
    Ok(p)
}

fn content_length(p: &Prepared) -> Result<Option<usize>, FrameError> {
    let mut found: Option<usize> = None;
    for v in p.headers_named("Content-Length") {
        let n: usize = v.trim().parse().map_err(|_| FrameError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// Pre-parses a header section (start line and fields, without the empty line).
///
/// # Errors
/// A [`FrameError`] for text that is not UTF-8, a line that is not a field, or a limit.
pub fn prepare_head(head: &[u8], limits: &Limits) -> Result<Prepared, FrameError> {
    let text = core::str::from_utf8(head).map_err(|_| FrameError::NotText)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .ok_or(FrameError::Empty)?;
    // Unfold: a line starting with whitespace continues the previous field.
    let mut fields: Vec<(usize, String)> = Vec::new();
    for (i, line) in lines.enumerate() {
        let number = i + 2;
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, last)) = fields.last_mut() else {
                return Err(FrameError::BadHeaderLine { line: number });
            };
            if last.len() + line.len() > limits.max_header {
                let name = last.split(':').next().unwrap_or("").trim().to_string();
                return Err(FrameError::HeaderTooLong {
                    name,
                    limit: limits.max_header,
                });
            }
            last.push(' ');
            last.push_str(line.trim());
            continue;
        }
        if line.len() > limits.max_header {
            let name = line.split(':').next().unwrap_or("").trim().to_string();
            return Err(FrameError::HeaderTooLong {
                name,
                limit: limits.max_header,
            });
        }
        if fields.len() >= limits.max_headers {
            return Err(FrameError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        fields.push((number, line.to_string()));
    }
    let mut headers = Vec::with_capacity(fields.len());
    for (number, field) in fields {
        let (name, value) = field
            .split_once(':')
            .ok_or(FrameError::BadHeaderLine { line: number })?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(FrameError::BadHeaderLine { line: number });
        }
        let name = canonical_name(name).into_owned();
        let value = value.trim();
        if is_split_list(&name) && value != "*" {
            for part in split_list(value) {
                if headers.len() >= limits.max_headers {
                    return Err(FrameError::TooManyHeaders {
                        limit: limits.max_headers,
                    });
                }
                let part = if name == "Via" {
                    tidy_via(part)
                } else {
                    part.to_string()
                };
                headers.push((name.clone(), part));
            }
        } else {
            headers.push((name, value.to_string()));
        }
    }
    Ok(Prepared {
        start,
        headers,
        body: Vec::new(),
    })
}

/// RFC 3261 §25.1 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// What a stream produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A whole message, pre-parsed.
    Message(Prepared),
    /// A CRLF CRLF keep-alive ping (RFC 5626 §3.5.1): answer with CRLF.
    Ping,
}

/// Frames messages on a stream transport (TCP) by `Content-Length`.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if one has arrived.
    ///
    /// # Errors
    /// A [`FrameError`] when the stream cannot be framed any more (no or bad
    /// `Content-Length`, over a limit): the connection must be closed, because where the next
    /// message starts is unknown.
    pub fn pop(&mut self, limits: &Limits) -> Result<Option<Framed>, FrameError> {
        // Keep-alives and stray line ends between messages.
        let blank = leading_blank(&self.buf);
        if blank > 0 {
            let ping = self.buf[..blank].windows(4).any(|w| w == b"\r\n\r\n");
            if !ping && blank == self.buf.len() {
                return Ok(None); // maybe the start of a ping: wait for more
            }
            self.buf.drain(..blank);
            if ping {
                return Ok(Some(Framed::Ping));
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some((head_end, body_start)) = find_head_end(&self.buf) else {
            if self.buf.len() > limits.max_message {
                return Err(FrameError::MessageTooLarge {
                    bytes: self.buf.len(),
                    limit: limits.max_message,
                });
            }
            return Ok(None);
        };
        let mut p = prepare_head(&self.buf[..head_end], limits)?;
        let len = content_length(&p)?.ok_or(FrameError::MissingContentLength)?;
        if len > limits.max_body {
            return Err(FrameError::BodyTooLarge {
                bytes: len,
                limit: limits.max_body,
            });
        }
        if body_start + len > limits.max_message {
            return Err(FrameError::MessageTooLarge {
                bytes: body_start + len,
                limit: limits.max_message,
            });
        }
        if self.buf.len() < body_start + len {
            return Ok(None);
        }
        p.body = self.buf[body_start..body_start + len].to_vec();
        self.buf.drain(..body_start + len);
        Ok(Some(Framed::Message(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1000@192.0.2.10 SIP/2.0\r\n\
        v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa, SIP / 2.0 / TCP  h2 ; branch = z9hG4bKb\r\n\
        f: <sip:alice@192.0.2.1>;tag=1\r\n\
        t: <sip:1000@192.0.2.10>\r\n\
        i: abc@192.0.2.1\r\n\
        CSeq: 1\r\n INVITE\r\n\
        Subject: a\r\n\tb\r\n\
        l: 4\r\n\
        \r\n\
        v=0\nPADDING";

    #[test]
    fn compact_folded_multi_via_and_padding_rfc3261_7_3() {
        let p = prepare_datagram(INVITE.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(p.start, "INVITE sip:1000@192.0.2.10 SIP/2.0");
        let vias: Vec<_> = p.headers_named("Via").collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa",
                "SIP/2.0/TCP h2;branch=z9hG4bKb"
            ]
        );
        assert_eq!(p.header("Call-ID"), Some("abc@192.0.2.1"));
        assert_eq!(p.header("i"), Some("abc@192.0.2.1"));
        assert_eq!(p.header("CSeq"), Some("1 INVITE"));
        assert_eq!(p.header("Subject"), Some("a b"));
        // §18.3: bytes after Content-Length are not body.
        assert_eq!(p.body, b"v=0\n");
        let m = rsip::SipMessage::try_from(p.to_bytes().as_slice()).unwrap();
        assert!(m.is_request());
    }

    #[test]
    fn truncated_body_and_bad_length_are_refused() {
        let m = "OPTIONS sip:x SIP/2.0\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            prepare_datagram(m.as_bytes(), &Limits::default()),
            Err(FrameError::BodyTruncated {
                declared: 10,
                received: 3
            })
        );
        let m = "OPTIONS sip:x SIP/2.0\r\nContent-Length: ten\r\n\r\n";
        assert_eq!(
            prepare_datagram(m.as_bytes(), &Limits::default()),
            Err(FrameError::BadContentLength)
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let m = "OPTIONS sip:x SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(
            prepare_datagram(m.as_bytes(), &limits),
            Err(FrameError::TooManyHeaders { limit: 3 })
        );
        let limits = Limits {
            max_header: 20,
            ..Limits::default()
        };
        let m = format!(
            "OPTIONS sip:x SIP/2.0\r\nX-Long: {}\r\n\r\n",
            "a".repeat(30)
        );
        assert!(matches!(
            prepare_datagram(m.as_bytes(), &limits),
            Err(FrameError::HeaderTooLong { .. })
        ));
        let m = "OPTIONS sip:x SIP/2.0\r\nNo colon here\r\n\r\n";
        assert_eq!(
            prepare_datagram(m.as_bytes(), &Limits::default()),
            Err(FrameError::BadHeaderLine { line: 2 })
        );
    }

    #[test]
    fn stream_frames_back_to_back_messages_and_pings() {
        let one = "OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 3\r\n\r\nabc";
        let two = "OPTIONS sip:x SIP/2.0\r\nCall-ID: 2\r\nContent-Length: 0\r\n\r\n";
        let mut f = StreamFramer::new();
        let all = format!("{one}\r\n\r\n{two}");
        // Byte by byte: nothing pops early.
        let mut got = Vec::new();
        for b in all.as_bytes() {
            f.push(&[*b]);
            while let Some(x) = f.pop(&Limits::default()).unwrap() {
                got.push(x);
            }
        }
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(&got[0], Framed::Message(p) if p.body == b"abc"));
        assert_eq!(got[1], Framed::Ping);
        assert!(matches!(&got[2], Framed::Message(p) if p.header("Call-ID") == Some("2")));
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\n\r\n");
        assert_eq!(
            f.pop(&Limits::default()),
            Err(FrameError::MissingContentLength)
        );
    }
}
