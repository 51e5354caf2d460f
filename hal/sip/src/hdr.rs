//! Typed readers for the header fields a trunk needs, including the ones rsip leaves as
//! `Other` (Session-Expires, RSeq, RAck, P-Asserted-Identity, Privacy, Diversion, Reason).
//!
//! Each reader takes one field value as the pre-parser left it (unfolded, trimmed, one value
//! of a list header) and returns `None` when it doesn't fit the grammar: a trunk header we
//! cannot read is ignored, never fatal, unless the request depends on it (which the caller
//! decides).

/// A `name-addr` or `addr-spec` with header parameters: `"Alice" <sip:a@h>;tag=x`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The URI, without angle brackets.
    pub uri: String,
    /// Header parameters (after the URI), names lower-cased.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// Reads a `From`/`To`/`Contact`/`P-Asserted-Identity`/`Diversion` value.
    pub fn parse(v: &str) -> Option<NameAddr> {
        let v = v.trim();
        let (display, rest) = if let Some(r) = v.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = r.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end?;
            (Some(out), r[end + 1..].trim_start())
        } else if let Some(lt) = v.find('<') {
            let name = v[..lt].trim();
            ((!name.is_empty()).then(|| name.to_string()), &v[lt..])
        } else {
            (None, v)
        };
        let (uri, params) = if let Some(r) = rest.strip_prefix('<') {
            let gt = r.find('>')?;
            (r[..gt].trim().to_string(), &r[gt + 1..])
        } else {
            if display.is_some() {
                return None;
            }
            // addr-spec: parameters after ';' belong to the header (RFC 3261 §20.10).
            match rest.find(';') {
                Some(i) => (rest[..i].trim().to_string(), &rest[i..]),
                None => (rest.trim().to_string(), ""),
            }
        };
        if uri.is_empty() {
            return None;
        }
        Some(NameAddr {
            display,
            uri,
            params: params_of(params),
        })
    }

    /// A header parameter's value (`tag`, `reason`…), by lower-case name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// The URI's user part (`1000` of `sip:1000@h`, `+1555` of `tel:+1555`), percent-decoded.
    pub fn user(&self) -> Option<String> {
        uri_user(&self.uri)
    }
}

/// The user part of a `sip:`/`sips:`/`tel:` URI, percent-decoded, without parameters.
pub fn uri_user(uri: &str) -> Option<String> {
    let lower = uri
        .get(..5)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rest = if lower.starts_with("sips:") {
        &uri[5..]
    } else if lower.starts_with("sip:") || lower.starts_with("tel:") {
        &uri[4..]
    } else {
        return None;
    };
    let user = if lower.starts_with("tel:") {
        rest.split(';').next()?
    } else {
        let at = rest.find('@')?;
        rest[..at].split([';', ':']).next()?
    };
    (!user.is_empty()).then(|| percent_decode(user))
}

/// The host and port of a `sip:` URI (`h` and `Some(5060)` of `sip:u@h:5060;transport=udp`).
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("SIP:"))?;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = rest.split([';', '?']).next()?;
    split_host_port(hostport)
}

/// `host[:port]`, with IPv6 references in brackets.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if let Some(r) = s.strip_prefix('[') {
        let end = r.find(']')?;
        let host = r[..end].to_string();
        let port = match r[end + 1..].strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        return Some((host, port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_string(), Some(p.parse().ok()?))),
        _ if !s.is_empty() => Some((s.to_string(), None)),
        _ => None,
    }
}

/// A URI parameter's value (`transport` of `sip:h;transport=tcp`), names case-insensitive.
pub fn uri_param<'a>(uri: &'a str, name: &str) -> Option<&'a str> {
    let params = uri.split('?').next()?;
    params.split(';').skip(1).find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|x| hex(*x)),
                b.get(i + 2).and_then(|x| hex(*x)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `;a=b;c` → `[("a", Some("b")), ("c", None)]`, names lower-cased, quotes removed.
pub fn params_of(s: &str) -> Vec<(String, Option<String>)> {
    s.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (
                n.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"').to_string()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
        .collect()
}

/// A `Via` value: `SIP/2.0/UDP host:port;branch=…;rport;received=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`…, upper-cased.
    pub transport: String,
    /// The sent-by host.
    pub host: String,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Parameters, names lower-cased.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Reads one `Via` value.
    pub fn parse(v: &str) -> Option<Via> {
        let (proto, rest) = v.trim().split_once(char::is_whitespace)?;
        let mut parts = proto.split('/');
        let (name, version, transport) = (parts.next()?, parts.next()?, parts.next()?);
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || parts.next().is_some() {
            return None;
        }
        let rest = rest.trim();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(sent_by)?;
        Some(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: params_of(params),
        })
    }

    /// A parameter's value, by lower-case name (`Some("")` for a flag like `rport`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The branch.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").filter(|b| !b.is_empty())
    }
}

/// `CSeq: 4711 INVITE` → `(4711, "INVITE")`.
pub fn cseq(v: &str) -> Option<(u32, &str)> {
    let mut it = v.split_whitespace();
    let n = it.next()?.parse().ok()?;
    let m = it.next()?;
    it.next().is_none().then_some((n, m))
}

/// `Session-Expires: 1800;refresher=uac` (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    /// Seconds.
    pub seconds: u32,
    /// Who refreshes: `Some(true)` for `uac`, `Some(false)` for `uas`.
    pub refresher_uac: Option<bool>,
}

impl SessionExpires {
    /// Reads the value.
    pub fn parse(v: &str) -> Option<Self> {
        let (n, params) = v.split_once(';').unwrap_or((v, ""));
        let seconds = n.trim().parse().ok()?;
        let refresher_uac = params_of(params)
            .into_iter()
            .find(|(n, _)| n == "refresher")
            .and_then(|(_, v)| match v.as_deref() {
                Some(r) if r.eq_ignore_ascii_case("uac") => Some(true),
                Some(r) if r.eq_ignore_ascii_case("uas") => Some(false),
                _ => None,
            });
        Some(SessionExpires {
            seconds,
            refresher_uac,
        })
    }
}

/// A number of seconds, ignoring comments and parameters (`Min-SE`, `Retry-After`,
/// `Expires`, `RSeq`).
pub fn seconds(v: &str) -> Option<u32> {
    v.split([';', '(', ' ']).next()?.trim().parse().ok()
}

/// `RAck: 776656 1 INVITE` (RFC 3262 §7.2).
pub fn rack(v: &str) -> Option<(u32, u32, &str)> {
    let mut it = v.split_whitespace();
    let r = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?,
    );
    it.next().is_none().then_some(r)
}

/// `Reason: Q.850;cause=16;text="Normal call clearing"` (RFC 3326): the Q.850 cause, when
/// that is the protocol.
pub fn reason_q850(v: &str) -> Option<u8> {
    let (proto, params) = v.split_once(';')?;
    if !proto.trim().eq_ignore_ascii_case("Q.850") {
        return None;
    }
    params_of(params)
        .into_iter()
        .find(|(n, _)| n == "cause")
        .and_then(|(_, v)| v?.parse().ok())
}

/// The option tags of `Require`/`Supported`/`Unsupported`, lower-cased.
pub fn option_tags(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// `Privacy: id;header` (RFC 3323/3325): true when the caller's identity is withheld.
pub fn privacy_withholds_id(v: &str) -> bool {
    v.split([';', ','])
        .map(str::trim)
        .any(|t| t.eq_ignore_ascii_case("id") || t.eq_ignore_ascii_case("user"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms_rfc3261_20_10() {
        let a =
            NameAddr::parse(r#""J \"R\"" <sip:jr@example.com;transport=udp>;tag=12;x"#).unwrap();
        assert_eq!(a.display.as_deref(), Some(r#"J "R""#));
        assert_eq!(a.uri, "sip:jr@example.com;transport=udp");
        assert_eq!(a.tag(), Some("12"));
        assert_eq!(a.params[1], ("x".to_string(), None));
        let b = NameAddr::parse("sip:1000@h;tag=abc").unwrap();
        assert_eq!(b.uri, "sip:1000@h");
        assert_eq!(b.tag(), Some("abc"));
        assert_eq!(b.user().as_deref(), Some("1000"));
        let c = NameAddr::parse("Bob <tel:+15551234;phone-context=x>").unwrap();
        assert_eq!(c.display.as_deref(), Some("Bob"));
        assert_eq!(c.user().as_deref(), Some("+15551234"));
        assert!(NameAddr::parse("\"unterminated <sip:x@y>").is_none());
        assert!(NameAddr::parse("<>").is_none());
        assert_eq!(uri_user("sip:%2B1555@h").as_deref(), Some("+1555"));
        assert_eq!(
            uri_host_port("sip:u@[::1]:5070;transport=tcp"),
            Some(("::1".into(), Some(5070)))
        );
        assert_eq!(
            uri_param("sip:h;transport=TCP;lr", "transport"),
            Some("TCP")
        );
    }

    #[test]
    fn via_and_cseq() {
        let v = Via::parse("SIP/2.0/udp 192.0.2.1:5061;branch=z9hG4bK1;rport;received=10.0.0.1")
            .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.1");
        assert_eq!(v.port, Some(5061));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.param("rport"), Some(""));
        assert_eq!(v.param("received"), Some("10.0.0.1"));
        assert!(Via::parse("SIP/3.0/UDP h").is_none());
        assert_eq!(cseq("12 INVITE"), Some((12, "INVITE")));
        assert_eq!(cseq("x INVITE"), None);
    }

    #[test]
    fn trunk_headers() {
        assert_eq!(
            SessionExpires::parse("1800;refresher=uas"),
            Some(SessionExpires {
                seconds: 1800,
                refresher_uac: Some(false)
            })
        );
        assert_eq!(seconds("120;duration=10"), Some(120));
        assert_eq!(seconds("300 (back soon)"), Some(300));
        assert_eq!(rack("776656 1 INVITE"), Some((776656, 1, "INVITE")));
        assert_eq!(reason_q850("Q.850 ;cause=17;text=\"User busy\""), Some(17));
        assert_eq!(reason_q850("SIP;cause=600"), None);
        assert_eq!(
            option_tags("timer, 100rel").collect::<Vec<_>>(),
            ["timer", "100rel"]
        );
        assert!(privacy_withholds_id("id"));
        assert!(!privacy_withholds_id("none"));
    }
}
