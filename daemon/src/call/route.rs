//! Routes: which handler takes a new call, with which params.

use serde::Deserialize;
use tipring_hal::{ChannelId, ChannelKind};

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Match {
    /// One channel.
    Channel(u32),
    /// Channels of a kind (`fxs`, `fxo`, …).
    Kind(String),
    /// A named group of channels.
    Group(String),
    /// Every call.
    Any,
}

/// A route: calls matching `matches` (and, when given, dialled to `number`) go to
/// `handler` with `params`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// What it matches.
    pub matches: Match,
    /// The called number's pattern: digits and `*#A-D` stand for themselves, `X` for any
    /// digit, and a final `.` for one or more characters of anything.
    pub number: Option<String>,
    /// The handler's name.
    pub handler: String,
    /// Its params, JSON.
    pub params: String,
}

impl Route {
    /// The route in words, for records: `kind fxo, number 2XX -> ivr-c`.
    pub fn describe(&self) -> String {
        let m = match &self.matches {
            Match::Channel(c) => format!("channel {c}"),
            Match::Kind(k) => format!("kind {k}"),
            Match::Group(g) => format!("group {g}"),
            Match::Any => "any".to_string(),
        };
        match &self.number {
            Some(n) => format!("{m}, number {n} -> {}", self.handler),
            None => format!("{m} -> {}", self.handler),
        }
    }
}

/// How far dialled digits go towards a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// They can't become a match.
    No,
    /// More digits could make a match.
    Partial,
    /// A match; no more digits would keep it one.
    Full,
    /// A match that more digits would still match (a trailing `.`).
    Open,
}

/// Checks a pattern: `None` if it is fine, else why not.
pub fn pattern_error(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        return Some("an empty pattern");
    }
    for (i, c) in p.chars().enumerate() {
        match c {
            '0'..='9' | '*' | '#' | 'A'..='D' | 'X' => {}
            '.' if i + 1 == p.len() && i > 0 => {}
            '.' => return Some("`.` only at the end, after at least one digit"),
            _ => return Some("only digits, * # A-D, X (any digit) and a final ."),
        }
    }
    None
}

/// How `digits` fit `pattern`.
pub fn fit(pattern: &str, digits: &str) -> Fit {
    let p = pattern.as_bytes();
    let d = digits.as_bytes();
    let mut i = 0;
    while i < p.len() {
        if p[i] == b'.' {
            // At least one more character than the fixed part.
            return if d.len() > i { Fit::Open } else { Fit::Partial };
        }
        let Some(&c) = d.get(i) else {
            return Fit::Partial;
        };
        let ok = if p[i] == b'X' {
            c.is_ascii_digit()
        } else {
            p[i] == c
        };
        if !ok {
            return Fit::No;
        }
        i += 1;
    }
    if d.len() == p.len() {
        Fit::Full
    } else {
        Fit::No
    }
}

/// The first route for a new call on `channel` (of `kind`, in `groups`), dialled to
/// `called` when known.
pub fn find<'a>(
    routes: &'a [Route],
    channel: ChannelId,
    kind: &ChannelKind,
    groups: &[String],
    called: Option<&str>,
) -> Option<&'a Route> {
    routes.iter().find(|r| {
        let line = match &r.matches {
            Match::Channel(n) => *n == channel.0,
            Match::Kind(k) => k == kind.name(),
            Match::Group(g) => groups.iter().any(|x| x == g),
            Match::Any => true,
        };
        line && match (&r.number, called) {
            (None, _) => true,
            (Some(p), Some(c)) => matches!(fit(p, c), Fit::Full | Fit::Open),
            (Some(_), None) => false,
        }
    })
}

/// What the digits dialled so far on `channel` call for: route now (`Some(true)`), wait
/// for more (`None`), or nothing can match (`Some(false)`).
pub fn dialled(
    routes: &[Route],
    channel: ChannelId,
    kind: &ChannelKind,
    groups: &[String],
    digits: &str,
) -> Option<bool> {
    let (mut full, mut more) = (false, false);
    for r in routes {
        let Some(p) = &r.number else { continue };
        let line = match &r.matches {
            Match::Channel(n) => *n == channel.0,
            Match::Kind(k) => k == kind.name(),
            Match::Group(g) => groups.iter().any(|x| x == g),
            Match::Any => true,
        };
        if !line {
            continue;
        }
        match fit(p, digits) {
            Fit::Full => full = true,
            Fit::Open => {
                full = true;
                more = true;
            }
            Fit::Partial => more = true,
            Fit::No => {}
        }
    }
    match (full, more) {
        (true, false) => Some(true),
        (false, false) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(number: &str, handler: &str) -> Route {
        Route {
            matches: Match::Any,
            number: Some(number.into()),
            handler: handler.into(),
            params: "{}".into(),
        }
    }

    #[test]
    fn patterns() {
        assert_eq!(fit("2XX", "2"), Fit::Partial);
        assert_eq!(fit("2XX", "201"), Fit::Full);
        assert_eq!(fit("2XX", "2011"), Fit::No);
        assert_eq!(fit("2XX", "3"), Fit::No);
        assert_eq!(fit("9.", "9"), Fit::Partial);
        assert_eq!(fit("9.", "95551234"), Fit::Open);
        assert_eq!(fit("*72", "*7"), Fit::Partial);
        assert_eq!(pattern_error("2X."), None);
        assert!(pattern_error(".").is_some());
        assert!(pattern_error("2.3").is_some());
        assert!(pattern_error("2y").is_some());
    }

    #[test]
    fn dialling_decides_when_no_longer_number_can_match() {
        let routes = [r("200", "a"), r("2001", "b"), r("3XX", "c"), r("9.", "d")];
        let ch = ChannelId(5);
        let k = ChannelKind::Fxs;
        let d = |s| dialled(&routes, ch, &k, &[], s);
        assert_eq!(d("2"), None);
        assert_eq!(d("200"), None); // 2001 may follow: wait for the inter-digit timeout
        assert_eq!(d("2001"), Some(true));
        assert_eq!(d("301"), Some(true));
        assert_eq!(d("4"), Some(false));
        assert_eq!(d("95"), None);
        let f = |s| find(&routes, ch, &k, &[], Some(s)).map(|r| r.handler.as_str());
        assert_eq!(f("200"), Some("a"));
        assert_eq!(f("301"), Some("c"));
        assert_eq!(f("95551212"), Some("d"));
        assert_eq!(f("4"), None);
        assert_eq!(find(&routes, ch, &k, &[], None), None);
    }
}
