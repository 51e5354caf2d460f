//! DTMF CLIP: caller ID sent as DTMF digits before the first ring (Denmark, Netherlands,
//! Sweden, Finland, Belgium, Brazil, India, Taiwan, Kuwait…).
//!
//! # What does it do?
//! Converts between the digit string the DTMF receiver collected (or the DTMF generator will
//! play) and a [`CallerId`]. The audio is not handled here.
//!
//! Grammar accepted by [`parse`] (`n…` = one or more digits 0–9, at most 32):
//!
//! | string | meaning |
//! |---|---|
//! | `A n… C`, `A n… #` | calling number (`A…#` is the Danish form) |
//! | `A n… D n… C` | calling number, then redirecting number |
//! | `B00C`, `AB00C` | information code 00, unavailable → [`Absence::OutOfArea`] |
//! | `B10C`, `AB10C` | information code 10, restricted → [`Absence::Private`] |
//! | `D n… C`, `D n… #` | calling number (Taiwan, Kuwait) |
//! | `D1#` | restricted → [`Absence::Private`] (Denmark) |
//! | `D2#`, `D3#` | international / technical reasons → [`Absence::OutOfArea`] (Denmark) |
//! | `n… #`, `n… C` | plain number (Denmark, Netherlands) |
//!
//! # How does it work?
//! A hand-written recursive-descent parser over the characters, with one error per rule
//! naming the position and what was expected; [`format()`] writes one of the
//! [`DtmfClipStyle`]s into a fixed-capacity string. DTMF CLIP carries numbers only: date/time,
//! name, dialled number and call qualifiers of a [`CallerId`] are ignored by [`format()`].

use core::iter::Peekable;
use core::str::Chars;

use heapless::String;

use super::error::{CidError, Field};
use super::message::{Absence, CallerId, NUMBER_CAPACITY};

/// Capacity of a formatted DTMF CLIP string: `A` + 32 digits + `D` + 32 digits + `C`, rounded.
pub const DTMF_CLIP_CAPACITY: usize = 72;

/// Layout of a DTMF CLIP string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfClipStyle {
    /// `A<number>[D<redirecting>]C`; absent: `B00C` (unavailable) / `B10C` (restricted).
    /// Sweden, Finland, Belgium, Brazil, India, Netherlands.
    AC,
    /// `A<number>#`; absent: `D3#` (unavailable) / `D1#` (restricted). Denmark.
    AHash,
    /// `D<number>C`; absent: `B00C` / `B10C`. Taiwan, Kuwait.
    DC,
    /// `<number>#`; cannot say why a number is absent.
    Plain,
}

impl DtmfClipStyle {
    /// Every style, in declaration order.
    pub const ALL: [DtmfClipStyle; 4] = [
        DtmfClipStyle::AC,
        DtmfClipStyle::AHash,
        DtmfClipStyle::DC,
        DtmfClipStyle::Plain,
    ];

    fn name(self) -> &'static str {
        match self {
            DtmfClipStyle::AC => "DTMF A…C",
            DtmfClipStyle::AHash => "DTMF A…#",
            DtmfClipStyle::DC => "DTMF D…C",
            DtmfClipStyle::Plain => "DTMF …#",
        }
    }
}

/// Writes `id` as a DTMF CLIP digit string in `style`.
///
/// Only `number`, `number_absent` and `redirecting` are used.
///
/// # Errors
/// * [`CidError::Missing`] (`Number`): neither a number nor a reason for its absence, or a
///   redirecting number without a calling number.
/// * [`CidError::Conflict`]: both a number and an absence reason.
/// * [`CidError::BadChar`]: a number character other than 0–9.
/// * [`CidError::TooLong`]: a number over 32 digits.
/// * [`CidError::Unrepresentable`]: an absence reason in [`DtmfClipStyle::Plain`], or a
///   redirecting number in any style but [`DtmfClipStyle::AC`].
///
/// ```
/// use tipring_dsp::cid::{CallerId, dtmf_clip::{self, DtmfClipStyle}};
/// let mut id = CallerId::default();
/// id.number = Some("012345678".try_into().unwrap());
/// assert_eq!(dtmf_clip::format(&id, DtmfClipStyle::AC).unwrap(), "A012345678C");
/// assert_eq!(dtmf_clip::parse("A012345678#").unwrap(), id);
/// ```
pub fn format(id: &CallerId, style: DtmfClipStyle) -> Result<String<DTMF_CLIP_CAPACITY>, CidError> {
    let mut out = String::new();
    let unrep = |field| CidError::Unrepresentable {
        field,
        format: style.name(),
    };
    if id.redirecting.is_some() && style != DtmfClipStyle::AC {
        return Err(unrep(Field::Redirecting));
    }
    match (&id.number, id.number_absent) {
        (Some(_), Some(_)) => Err(CidError::Conflict {
            field: Field::Number,
        }),
        (None, None) => Err(CidError::Missing {
            field: Field::Number,
        }),
        (Some(n), None) => {
            check_digits(Field::Number, n)?;
            let (lead, tail) = match style {
                DtmfClipStyle::AC => ("A", "C"),
                DtmfClipStyle::AHash => ("A", "#"),
                DtmfClipStyle::DC => ("D", "C"),
                DtmfClipStyle::Plain => ("", "#"),
            };
            push(&mut out, lead)?;
            push(&mut out, n)?;
            if let Some(r) = &id.redirecting {
                check_digits(Field::Redirecting, r)?;
                push(&mut out, "D")?;
                push(&mut out, r)?;
            }
            push(&mut out, tail)?;
            Ok(out)
        }
        (None, Some(a)) => {
            if id.redirecting.is_some() {
                return Err(CidError::Missing {
                    field: Field::Number,
                });
            }
            let s = match (style, a) {
                (DtmfClipStyle::AC | DtmfClipStyle::DC, Absence::OutOfArea) => "B00C",
                (DtmfClipStyle::AC | DtmfClipStyle::DC, Absence::Private) => "B10C",
                (DtmfClipStyle::AHash, Absence::OutOfArea) => "D3#",
                (DtmfClipStyle::AHash, Absence::Private) => "D1#",
                (DtmfClipStyle::Plain, _) => return Err(unrep(Field::NumberAbsent)),
            };
            push(&mut out, s)?;
            Ok(out)
        }
    }
}

fn check_digits(field: Field, n: &str) -> Result<(), CidError> {
    if n.is_empty() {
        return Err(CidError::Missing { field });
    }
    for (index, ch) in n.chars().enumerate() {
        if !ch.is_ascii_digit() {
            return Err(CidError::BadChar { field, index, ch });
        }
    }
    if n.len() > NUMBER_CAPACITY {
        return Err(CidError::TooLong {
            field,
            max: NUMBER_CAPACITY,
            len: n.len(),
        });
    }
    Ok(())
}

fn push(out: &mut String<DTMF_CLIP_CAPACITY>, s: &str) -> Result<(), CidError> {
    // Digits are checked to ≤ 32 per number, so the longest string is 67 characters.
    out.push_str(s).map_err(|_| CidError::TooLong {
        field: Field::Message,
        max: DTMF_CLIP_CAPACITY,
        len: out.len() + s.len(),
    })
}

/// Parses a DTMF CLIP digit string (see the module docs for the grammar). Letters must be
/// upper case, as a DTMF receiver reports them.
///
/// # Errors
/// * [`CidError::DtmfSyntax`]: a character where the grammar does not allow it, or a string
///   that ends before its terminator (`C` or `#`), with the position and what was expected.
/// * [`CidError::DtmfInfoCode`]: an information code other than `B00` and `B10`.
/// * [`CidError::TooLong`]: a number over 32 digits.
/// * [`CidError::Conflict`]: a number together with an absence code.
pub fn parse(s: &str) -> Result<CallerId, CidError> {
    let mut id = CallerId::default();
    // Danish absence codes.
    match s {
        "D1#" => {
            id.number_absent = Some(Absence::Private);
            return Ok(id);
        }
        "D2#" | "D3#" => {
            id.number_absent = Some(Absence::OutOfArea);
            return Ok(id);
        }
        _ => {}
    }
    let mut p = Parser {
        it: s.chars().peekable(),
        index: 0,
    };
    let lead = p.peek();
    match lead {
        Some('A' | 'D') => {
            p.next();
            if p.peek() != Some('B') {
                id.number = Some(p.digits(Field::Number)?);
            }
            if lead == Some('A') && p.peek() == Some('D') {
                p.next();
                id.redirecting = Some(p.digits(Field::Redirecting)?);
            }
        }
        Some('0'..='9') => id.number = Some(p.digits(Field::Number)?),
        Some('B') => {}
        found => {
            return Err(CidError::DtmfSyntax {
                index: 0,
                found,
                expected: "A, B, D or a digit",
            });
        }
    }
    if p.peek() == Some('B') {
        let at = p.index;
        p.next();
        let hi = p.digit("a two-digit information code")?;
        let lo = p.digit("a two-digit information code")?;
        let code = hi * 10 + lo;
        id.number_absent = Some(match code {
            0 => Absence::OutOfArea,
            10 => Absence::Private,
            _ => return Err(CidError::DtmfInfoCode { index: at, code }),
        });
        if id.number.is_some() {
            return Err(CidError::Conflict {
                field: Field::Number,
            });
        }
    }
    let expected_end = if id.number_absent.is_some() || lead != Some('A') {
        "C or #"
    } else {
        "D, B, C or #"
    };
    match p.peek() {
        Some('C' | '#') => {
            p.next();
        }
        found => {
            return Err(CidError::DtmfSyntax {
                index: p.index,
                found,
                expected: expected_end,
            });
        }
    }
    if let Some(c) = p.peek() {
        return Err(CidError::DtmfSyntax {
            index: p.index,
            found: Some(c),
            expected: "the end after C or #",
        });
    }
    Ok(id)
}

struct Parser<'a> {
    it: Peekable<Chars<'a>>,
    index: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Option<char> {
        self.it.peek().copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.it.next();
        if c.is_some() {
            self.index += 1;
        }
        c
    }

    fn digit(&mut self, expected: &'static str) -> Result<u8, CidError> {
        match self.peek() {
            Some(c @ '0'..='9') => {
                self.next();
                Ok(c as u8 - b'0')
            }
            found => Err(CidError::DtmfSyntax {
                index: self.index,
                found,
                expected,
            }),
        }
    }

    /// One or more digits.
    fn digits(&mut self, field: Field) -> Result<String<NUMBER_CAPACITY>, CidError> {
        let mut n = String::new();
        let mut len = 0usize;
        while let Some(c @ '0'..='9') = self.peek() {
            self.next();
            len += 1;
            // Count past capacity to report the real length.
            let _ = n.push(c);
        }
        if len == 0 {
            return Err(CidError::DtmfSyntax {
                index: self.index,
                found: self.peek(),
                expected: "a digit",
            });
        }
        if len > NUMBER_CAPACITY {
            return Err(CidError::TooLong {
                field,
                max: NUMBER_CAPACITY,
                len,
            });
        }
        Ok(n)
    }
}
