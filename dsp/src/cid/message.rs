//! On-hook data messages: the caller-ID and message-waiting content, and its SDMF / MDMF /
//! ETSI CLIP byte encoding (type, length, data, checksum).

use heapless::{String, Vec};

use super::error::{CidError, Field};

/// Largest frame: type + length + 255 data bytes + checksum.
pub const MAX_FRAME: usize = 258;

/// An encoded frame: type, length, data, checksum.
pub type Frame = Vec<u8, MAX_FRAME>;

/// Message-type bytes (GR-30-CORE, EN 300 659-3).
pub mod msg_type {
    /// SDMF caller ID (GR-30-CORE).
    pub const SDMF_CALLER_ID: u8 = 0x04;
    /// SDMF message-waiting indicator (GR-30-CORE).
    pub const SDMF_MWI: u8 = 0x06;
    /// MDMF caller ID; ETSI "call set-up" (EN 300 659-3).
    pub const MDMF_CALLER_ID: u8 = 0x80;
    /// MDMF / ETSI message-waiting indicator.
    pub const MDMF_MWI: u8 = 0x82;
}

/// MDMF / ETSI parameter type codes.
pub mod param {
    /// Date and time, 8 ASCII digits `MMDDHHMM`.
    pub const DATETIME: u8 = 0x01;
    /// Calling number (calling line identity).
    pub const NUMBER: u8 = 0x02;
    /// Dialled (called) number.
    pub const DIALLED: u8 = 0x03;
    /// Reason for absence of the number: `O` or `P`.
    pub const NUMBER_ABSENT: u8 = 0x04;
    /// Call qualifier: `L` = long distance (GR-30-CORE).
    pub const CALL_QUALIFIER: u8 = 0x06;
    /// Calling name.
    pub const NAME: u8 = 0x07;
    /// Reason for absence of the name: `O` or `P`.
    pub const NAME_ABSENT: u8 = 0x08;
    /// Visual indicator (MWI): 0xFF on, 0x00 off.
    pub const VISUAL_INDICATOR: u8 = 0x0B;
    /// Call type (ETSI), one byte.
    pub const CALL_TYPE: u8 = 0x11;
    /// Number of messages (ETSI MWI), one byte.
    pub const MESSAGE_COUNT: u8 = 0x13;
    /// Redirecting number (ETSI).
    pub const REDIRECTING: u8 = 0x1A;
}

/// Longest number (calling, dialled, redirecting) this crate stores.
pub const NUMBER_CAPACITY: usize = 32;
/// Longest name this crate stores, in UTF-8 bytes.
pub const NAME_CAPACITY: usize = 64;

/// Why a number or name is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absence {
    /// `O`: out of area / unavailable (DTMF CLIP `B00`, `D2#`, `D3#`).
    OutOfArea,
    /// `P`: private / restricted by the caller (DTMF CLIP `B10`, `D1#`).
    Private,
}

impl Absence {
    /// The wire byte, `O` or `P`.
    pub fn as_byte(self) -> u8 {
        match self {
            Absence::OutOfArea => b'O',
            Absence::Private => b'P',
        }
    }

    /// Parses the wire byte `O` or `P`.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'O' => Some(Absence::OutOfArea),
            b'P' => Some(Absence::Private),
            _ => None,
        }
    }
}

/// Caller-ID content, common to SDMF, MDMF, ETSI CLIP and DTMF CLIP.
///
/// A value and its absence reason are exclusive (`number` / `number_absent`, `name` /
/// `name_absent`); [`encode`] rejects both being set. Numbers are printable ASCII; names are
/// ISO 8859-1 on the wire and UTF-8 here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallerId {
    /// Date and time as 8 ASCII digits `MMDDHHMM` (local time of the exchange).
    pub datetime: Option<[u8; 8]>,
    /// Calling number.
    pub number: Option<String<NUMBER_CAPACITY>>,
    /// Why the calling number is absent.
    pub number_absent: Option<Absence>,
    /// Calling name.
    pub name: Option<String<NAME_CAPACITY>>,
    /// Why the calling name is absent.
    pub name_absent: Option<Absence>,
    /// Dialled (called) number, MDMF parameter 0x03.
    pub dialled: Option<String<NUMBER_CAPACITY>>,
    /// Redirecting number, ETSI parameter 0x1A (DTMF CLIP: `D…` after the number).
    pub redirecting: Option<String<NUMBER_CAPACITY>>,
    /// Long-distance call (MDMF call qualifier 0x06 = `L`).
    pub long_distance: bool,
    /// ETSI call type (parameter 0x11), raw.
    pub call_type: Option<u8>,
    /// Codes of parameters that were received but not understood (the first 8), so a caller can
    /// tell the message carried more. Never encoded.
    pub skipped: Vec<u8, 8>,
}

impl CallerId {
    /// The date/time as a string `MMDDHHMM`, if present.
    pub fn datetime_str(&self) -> Option<&str> {
        self.datetime
            .as_ref()
            .and_then(|d| core::str::from_utf8(d).ok())
    }
}

/// A decoded or to-be-encoded on-hook message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "fixed-size by design: no heap after construction"
)]
pub enum Message {
    /// Caller ID (SDMF 0x04, MDMF / ETSI call set-up 0x80).
    CallerId(CallerId),
    /// Message-waiting indicator (SDMF 0x06, MDMF / ETSI 0x82).
    Mwi {
        /// Indicator on (messages waiting) or off.
        active: bool,
        /// Number of messages (ETSI parameter 0x13; MDMF only).
        count: Option<u8>,
    },
}

/// Wire format of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Single data message format (GR-30-CORE): types 0x04, 0x06.
    Sdmf,
    /// Multiple data message format (GR-30-CORE): types 0x80, 0x82; names ≤ 15, numbers ≤ 15.
    Mdmf,
    /// ETSI CLIP (EN 300 659-3): the MDMF layout with types 0x80, 0x82; names ≤ 50, numbers
    /// ≤ 20. [`decode`] cannot tell it from [`Format::Mdmf`] and reports `Mdmf`.
    Etsi,
}

impl Format {
    /// Short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Sdmf => "SDMF",
            Format::Mdmf => "MDMF",
            Format::Etsi => "ETSI CLIP",
        }
    }

    fn max_number(self) -> usize {
        match self {
            Format::Sdmf => 10,
            Format::Mdmf => 15,
            Format::Etsi => 20,
        }
    }

    fn max_name(self) -> usize {
        match self {
            Format::Sdmf => 0,
            Format::Mdmf => 15,
            Format::Etsi => 50,
        }
    }
}

/// A decoded frame: its format and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// `Sdmf` for types 0x04/0x06, `Mdmf` for 0x80/0x82 (GR-30 MDMF and ETSI share them).
    pub format: Format,
    /// The content.
    pub message: Message,
}

/// The checksum byte for `bytes` (type, length and data): the two's complement of their
/// mod-256 sum, so that the sum of the whole frame is 0 mod 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, &b| a.wrapping_add(b))
        .wrapping_neg()
}

/// Encodes `message` as a frame (type, length, data, checksum) in `format`.
///
/// # Errors
/// * [`CidError::Missing`]: SDMF caller ID without date/time or without number/absence.
/// * [`CidError::Conflict`]: a value and its absence reason both set.
/// * [`CidError::Unrepresentable`]: a field the format cannot carry (SDMF: anything but
///   date/time and number; MWI count in SDMF).
/// * [`CidError::TooLong`] / [`CidError::BadChar`]: a field over the format's limit or with a
///   character outside printable ASCII (numbers) or ISO 8859-1 (names).
///
/// ```
/// use tipring_dsp::cid::{encode, decode, CallerId, Format, Message};
/// let mut id = CallerId::default();
/// id.datetime = Some(*b"01021504");
/// id.number = Some("5551234567".try_into().unwrap());
/// let frame = encode(&Message::CallerId(id.clone()), Format::Sdmf).unwrap();
/// assert_eq!(&frame[..2], &[0x04, 18]);
/// let back = decode(&frame).unwrap();
/// assert_eq!(back.message, Message::CallerId(id));
/// ```
pub fn encode(message: &Message, format: Format) -> Result<Frame, CidError> {
    let mut w = Writer::new();
    match (message, format) {
        (Message::CallerId(id), Format::Sdmf) => encode_sdmf_cid(&mut w, id)?,
        (Message::CallerId(id), _) => encode_mdmf_cid(&mut w, id, format)?,
        (Message::Mwi { active, count }, Format::Sdmf) => {
            if count.is_some() {
                return Err(CidError::Unrepresentable {
                    field: Field::MessageCount,
                    format: format.name(),
                });
            }
            w.start(msg_type::SDMF_MWI);
            let b = if *active { 0x42 } else { 0x6F };
            w.bytes(&[b, b, b])?;
        }
        (Message::Mwi { active, count }, _) => {
            w.start(msg_type::MDMF_MWI);
            w.param(
                param::VISUAL_INDICATOR,
                &[if *active { 0xFF } else { 0x00 }],
            )?;
            if let Some(c) = count {
                w.param(param::MESSAGE_COUNT, &[*c])?;
            }
        }
    }
    w.finish()
}

fn encode_sdmf_cid(w: &mut Writer, id: &CallerId) -> Result<(), CidError> {
    let unrep = |field| CidError::Unrepresentable {
        field,
        format: Format::Sdmf.name(),
    };
    if id.name.is_some() {
        return Err(unrep(Field::Name));
    }
    if id.name_absent.is_some() {
        return Err(unrep(Field::NameAbsent));
    }
    if id.dialled.is_some() {
        return Err(unrep(Field::Dialled));
    }
    if id.redirecting.is_some() {
        return Err(unrep(Field::Redirecting));
    }
    if id.long_distance {
        return Err(unrep(Field::LongDistance));
    }
    if id.call_type.is_some() {
        return Err(unrep(Field::CallType));
    }
    let dt = id.datetime.as_ref().ok_or(CidError::Missing {
        field: Field::DateTime,
    })?;
    check_datetime(dt)?;
    w.start(msg_type::SDMF_CALLER_ID);
    w.bytes(dt)?;
    match (&id.number, id.number_absent) {
        (Some(_), Some(_)) => {
            return Err(CidError::Conflict {
                field: Field::Number,
            });
        }
        (None, None) => {
            return Err(CidError::Missing {
                field: Field::Number,
            });
        }
        (None, Some(a)) => w.bytes(&[a.as_byte()])?,
        (Some(n), None) => {
            check_number(Field::Number, n, Format::Sdmf)?;
            if n.is_empty() {
                return Err(CidError::Missing {
                    field: Field::Number,
                });
            }
            // A lone "O" or "P" would read back as an absence reason.
            if let Some(c @ ('O' | 'P')) = n.chars().next().filter(|_| n.len() == 1) {
                return Err(CidError::BadChar {
                    field: Field::Number,
                    index: 0,
                    ch: c,
                });
            }
            w.bytes(n.as_bytes())?;
        }
    }
    Ok(())
}

fn encode_mdmf_cid(w: &mut Writer, id: &CallerId, format: Format) -> Result<(), CidError> {
    w.start(msg_type::MDMF_CALLER_ID);
    if let Some(dt) = &id.datetime {
        check_datetime(dt)?;
        w.param(param::DATETIME, dt)?;
    }
    match (&id.number, id.number_absent) {
        (Some(_), Some(_)) => {
            return Err(CidError::Conflict {
                field: Field::Number,
            });
        }
        (Some(n), None) => {
            check_number(Field::Number, n, format)?;
            w.param(param::NUMBER, n.as_bytes())?;
        }
        (None, Some(a)) => w.param(param::NUMBER_ABSENT, &[a.as_byte()])?,
        (None, None) => {}
    }
    if let Some(n) = &id.dialled {
        check_number(Field::Dialled, n, format)?;
        w.param(param::DIALLED, n.as_bytes())?;
    }
    if let Some(n) = &id.redirecting {
        check_number(Field::Redirecting, n, format)?;
        w.param(param::REDIRECTING, n.as_bytes())?;
    }
    if id.long_distance {
        w.param(param::CALL_QUALIFIER, b"L")?;
    }
    match (&id.name, id.name_absent) {
        (Some(_), Some(_)) => return Err(CidError::Conflict { field: Field::Name }),
        (Some(n), None) => {
            let mut latin1: Vec<u8, NAME_CAPACITY> = Vec::new();
            for (index, ch) in n.chars().enumerate() {
                let c = u32::from(ch);
                let ok = (0x20..=0x7E).contains(&c) || (0xA0..=0xFF).contains(&c);
                if !ok {
                    return Err(CidError::BadChar {
                        field: Field::Name,
                        index,
                        ch,
                    });
                }
                // Each char is one byte and a name has at most 64 UTF-8 bytes: always fits.
                let _ = latin1.push(c as u8);
            }
            if latin1.len() > format.max_name() {
                return Err(CidError::TooLong {
                    field: Field::Name,
                    max: format.max_name(),
                    len: latin1.len(),
                });
            }
            w.param(param::NAME, &latin1)?;
        }
        (None, Some(a)) => w.param(param::NAME_ABSENT, &[a.as_byte()])?,
        (None, None) => {}
    }
    if let Some(t) = id.call_type {
        w.param(param::CALL_TYPE, &[t])?;
    }
    Ok(())
}

fn check_datetime(dt: &[u8; 8]) -> Result<(), CidError> {
    for (index, &b) in dt.iter().enumerate() {
        if !b.is_ascii_digit() {
            return Err(CidError::BadChar {
                field: Field::DateTime,
                index,
                ch: char::from(b),
            });
        }
    }
    Ok(())
}

fn check_number(field: Field, n: &str, format: Format) -> Result<(), CidError> {
    for (index, ch) in n.chars().enumerate() {
        if !(' '..='~').contains(&ch) {
            return Err(CidError::BadChar { field, index, ch });
        }
    }
    if n.len() > format.max_number() {
        return Err(CidError::TooLong {
            field,
            max: format.max_number(),
            len: n.len(),
        });
    }
    Ok(())
}

/// Builds a frame; the length byte is patched in `finish`.
struct Writer {
    buf: Frame,
}

impl Writer {
    fn new() -> Self {
        let mut w = Self { buf: Vec::new() };
        w.start(0);
        w
    }

    fn start(&mut self, ty: u8) {
        self.buf.clear();
        // Two pushes into an empty 258-byte buffer cannot fail.
        let _ = self.buf.push(ty);
        let _ = self.buf.push(0);
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), CidError> {
        // Keep room for the checksum.
        if self.buf.len() + b.len() > MAX_FRAME - 1 {
            return Err(self.too_long(b.len()));
        }
        self.buf
            .extend_from_slice(b)
            .map_err(|_| self.too_long(b.len()))
    }

    fn param(&mut self, code: u8, data: &[u8]) -> Result<(), CidError> {
        let len = u8::try_from(data.len()).map_err(|_| self.too_long(data.len() + 2))?;
        self.bytes(&[code, len])?;
        self.bytes(data)
    }

    fn too_long(&self, extra: usize) -> CidError {
        CidError::TooLong {
            field: Field::Message,
            max: 255,
            len: self.buf.len().saturating_sub(2) + extra,
        }
    }

    fn finish(mut self) -> Result<Frame, CidError> {
        let data_len = self.buf.len() - 2;
        self.buf[1] = u8::try_from(data_len).map_err(|_| CidError::TooLong {
            field: Field::Message,
            max: 255,
            len: data_len,
        })?;
        let c = checksum(&self.buf);
        self.buf.push(c).map_err(|_| CidError::TooLong {
            field: Field::Message,
            max: 255,
            len: data_len,
        })?;
        Ok(self.buf)
    }
}

/// Decodes one frame (type, length, data, checksum), checking in this order: length, checksum,
/// type, then each field.
///
/// Unknown MDMF parameters are skipped and their codes listed in [`CallerId::skipped`];
/// unknown message types are an error, never a partial result. Limits are the union of
/// GR-30-CORE and ETSI (numbers up to 32 characters, names up to 64 UTF-8 bytes).
///
/// # Errors
/// [`CidError::Truncated`], [`CidError::TrailingBytes`], [`CidError::Checksum`],
/// [`CidError::UnknownType`], then per field [`CidError::ParamOverrun`],
/// [`CidError::BadLength`], [`CidError::BadByte`], [`CidError::TooLong`],
/// [`CidError::Missing`] (MWI without its indicator).
pub fn decode(bytes: &[u8]) -> Result<Decoded, CidError> {
    let (&ty, rest) = bytes.split_first().ok_or(CidError::Truncated {
        expected: None,
        received: 0,
    })?;
    let &len = rest.first().ok_or(CidError::Truncated {
        expected: None,
        received: bytes.len(),
    })?;
    let total = usize::from(len) + 3;
    if bytes.len() < total {
        return Err(CidError::Truncated {
            expected: Some(total),
            received: bytes.len(),
        });
    }
    if bytes.len() > total {
        return Err(CidError::TrailingBytes {
            expected: total,
            received: bytes.len(),
        });
    }
    let expected = checksum(&bytes[..total - 1]);
    let found = bytes[total - 1];
    if expected != found {
        return Err(CidError::Checksum { expected, found });
    }
    let data = &bytes[2..total - 1];
    match ty {
        msg_type::SDMF_CALLER_ID => Ok(Decoded {
            format: Format::Sdmf,
            message: Message::CallerId(decode_sdmf_cid(data)?),
        }),
        msg_type::SDMF_MWI => Ok(Decoded {
            format: Format::Sdmf,
            message: decode_sdmf_mwi(data)?,
        }),
        msg_type::MDMF_CALLER_ID => Ok(Decoded {
            format: Format::Mdmf,
            message: Message::CallerId(decode_mdmf_cid(data)?),
        }),
        msg_type::MDMF_MWI => Ok(Decoded {
            format: Format::Mdmf,
            message: decode_mdmf_mwi(data)?,
        }),
        type_byte => Err(CidError::UnknownType { type_byte }),
    }
}

/// Data offset of `data[i]` in the frame.
const DATA: usize = 2;

fn decode_sdmf_cid(data: &[u8]) -> Result<CallerId, CidError> {
    if data.len() < 9 {
        return Err(CidError::BadLength {
            field: Field::Message,
            offset: DATA,
            min: 9,
            max: 8 + NUMBER_CAPACITY,
            found: data.len(),
        });
    }
    let mut id = CallerId {
        datetime: Some(read_datetime(&data[..8], DATA)?),
        ..CallerId::default()
    };
    let num = &data[8..];
    match num {
        [b] if Absence::from_byte(*b).is_some() => id.number_absent = Absence::from_byte(*b),
        _ => id.number = Some(read_number(Field::Number, num, DATA + 8)?),
    }
    Ok(id)
}

fn decode_sdmf_mwi(data: &[u8]) -> Result<Message, CidError> {
    if data.len() != 3 {
        return Err(CidError::BadLength {
            field: Field::Indicator,
            offset: DATA,
            min: 3,
            max: 3,
            found: data.len(),
        });
    }
    let first = data[0];
    if first != 0x42 && first != 0x6F {
        return Err(CidError::BadByte {
            field: Field::Indicator,
            offset: DATA,
            byte: first,
        });
    }
    for (i, &b) in data.iter().enumerate().skip(1) {
        if b != first {
            return Err(CidError::BadByte {
                field: Field::Indicator,
                offset: DATA + i,
                byte: b,
            });
        }
    }
    Ok(Message::Mwi {
        active: first == 0x42,
        count: None,
    })
}

/// Iterates over MDMF parameters as (code, offset of the code byte, value).
fn params(data: &[u8]) -> impl Iterator<Item = Result<(u8, usize, &[u8]), CidError>> {
    let mut i = 0usize;
    core::iter::from_fn(move || {
        if i >= data.len() {
            return None;
        }
        let code = data[i];
        let offset = DATA + i;
        let Some(&len) = data.get(i + 1) else {
            i = data.len();
            return Some(Err(CidError::ParamOverrun { code, offset }));
        };
        let start = i + 2;
        let end = start + usize::from(len);
        if end > data.len() {
            i = data.len();
            return Some(Err(CidError::ParamOverrun { code, offset }));
        }
        i = end;
        Some(Ok((code, offset, &data[start..end])))
    })
}

fn one_byte(field: Field, offset: usize, v: &[u8]) -> Result<u8, CidError> {
    match v {
        [b] => Ok(*b),
        _ => Err(CidError::BadLength {
            field,
            offset,
            min: 1,
            max: 1,
            found: v.len(),
        }),
    }
}

fn absence(field: Field, offset: usize, v: &[u8]) -> Result<Absence, CidError> {
    let b = one_byte(field, offset, v)?;
    Absence::from_byte(b).ok_or(CidError::BadByte {
        field,
        offset: offset + 2,
        byte: b,
    })
}

fn decode_mdmf_cid(data: &[u8]) -> Result<CallerId, CidError> {
    let mut id = CallerId::default();
    for p in params(data) {
        let (code, offset, v) = p?;
        let value_at = offset + 2;
        match code {
            param::DATETIME => {
                if v.len() != 8 {
                    return Err(CidError::BadLength {
                        field: Field::DateTime,
                        offset,
                        min: 8,
                        max: 8,
                        found: v.len(),
                    });
                }
                id.datetime = Some(read_datetime(v, value_at)?);
            }
            param::NUMBER => id.number = Some(read_number(Field::Number, v, value_at)?),
            param::DIALLED => id.dialled = Some(read_number(Field::Dialled, v, value_at)?),
            param::REDIRECTING => {
                id.redirecting = Some(read_number(Field::Redirecting, v, value_at)?);
            }
            param::NUMBER_ABSENT => {
                id.number_absent = Some(absence(Field::NumberAbsent, offset, v)?);
            }
            param::NAME_ABSENT => id.name_absent = Some(absence(Field::NameAbsent, offset, v)?),
            param::CALL_QUALIFIER => {
                let b = one_byte(Field::LongDistance, offset, v)?;
                if b != b'L' {
                    return Err(CidError::BadByte {
                        field: Field::LongDistance,
                        offset: value_at,
                        byte: b,
                    });
                }
                id.long_distance = true;
            }
            param::NAME => id.name = Some(read_name(v, value_at)?),
            param::CALL_TYPE => id.call_type = Some(one_byte(Field::CallType, offset, v)?),
            other => {
                // Keep the first 8 unknown codes; more are still skipped.
                let _ = id.skipped.push(other);
            }
        }
    }
    Ok(id)
}

fn decode_mdmf_mwi(data: &[u8]) -> Result<Message, CidError> {
    let mut active = None;
    let mut count = None;
    for p in params(data) {
        let (code, offset, v) = p?;
        match code {
            param::VISUAL_INDICATOR => {
                let b = one_byte(Field::Indicator, offset, v)?;
                active = Some(match b {
                    0xFF => true,
                    0x00 => false,
                    _ => {
                        return Err(CidError::BadByte {
                            field: Field::Indicator,
                            offset: offset + 2,
                            byte: b,
                        });
                    }
                });
            }
            param::MESSAGE_COUNT => count = Some(one_byte(Field::MessageCount, offset, v)?),
            _ => {}
        }
    }
    let active = active.ok_or(CidError::Missing {
        field: Field::Indicator,
    })?;
    Ok(Message::Mwi { active, count })
}

fn read_datetime(v: &[u8], offset: usize) -> Result<[u8; 8], CidError> {
    let mut dt = [0u8; 8];
    for (i, (&b, d)) in v.iter().zip(dt.iter_mut()).enumerate() {
        if !b.is_ascii_digit() {
            return Err(CidError::BadByte {
                field: Field::DateTime,
                offset: offset + i,
                byte: b,
            });
        }
        *d = b;
    }
    Ok(dt)
}

fn read_number(field: Field, v: &[u8], offset: usize) -> Result<String<NUMBER_CAPACITY>, CidError> {
    if v.len() > NUMBER_CAPACITY {
        return Err(CidError::TooLong {
            field,
            max: NUMBER_CAPACITY,
            len: v.len(),
        });
    }
    let mut s = String::new();
    for (i, &b) in v.iter().enumerate() {
        if !(0x20..=0x7E).contains(&b) {
            return Err(CidError::BadByte {
                field,
                offset: offset + i,
                byte: b,
            });
        }
        // Length checked above.
        let _ = s.push(char::from(b));
    }
    Ok(s)
}

fn read_name(v: &[u8], offset: usize) -> Result<String<NAME_CAPACITY>, CidError> {
    let mut s = String::new();
    for (i, &b) in v.iter().enumerate() {
        if !((0x20..=0x7E).contains(&b) || b >= 0xA0) {
            return Err(CidError::BadByte {
                field: Field::Name,
                offset: offset + i,
                byte: b,
            });
        }
        // ISO 8859-1 maps one-to-one onto U+0000..U+00FF.
        s.push(char::from(b)).map_err(|_| CidError::TooLong {
            field: Field::Name,
            max: NAME_CAPACITY,
            len: utf8_len_latin1(v),
        })?;
    }
    Ok(s)
}

fn utf8_len_latin1(v: &[u8]) -> usize {
    v.iter().map(|&b| if b < 0x80 { 1 } else { 2 }).sum()
}
