//! The one error type of the caller-ID module, and the names of the fields it points at.

use core::fmt;

/// A caller-ID field, as named in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The whole message (its data part, or the frame as a whole).
    Message,
    /// Date and time, `MMDDHHMM` (SDMF bytes 0–7, MDMF parameter 0x01).
    DateTime,
    /// Calling number (SDMF bytes 8…, MDMF parameter 0x02).
    Number,
    /// Reason the number is absent (MDMF parameter 0x04, or `O`/`P` in SDMF).
    NumberAbsent,
    /// Calling name (MDMF parameter 0x07).
    Name,
    /// Reason the name is absent (MDMF parameter 0x08).
    NameAbsent,
    /// Dialled (called) number (MDMF parameter 0x03).
    Dialled,
    /// Redirecting number (ETSI parameter 0x1A; DTMF `D…` after `A…`).
    Redirecting,
    /// Call qualifier, `L` = long distance (MDMF parameter 0x06).
    LongDistance,
    /// Call type (ETSI parameter 0x11).
    CallType,
    /// Message-waiting visual indicator (SDMF 0x06 data, MDMF parameter 0x0B).
    Indicator,
    /// Number of waiting messages (ETSI parameter 0x13).
    MessageCount,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Message => "message",
            Field::DateTime => "date/time",
            Field::Number => "number",
            Field::NumberAbsent => "number-absence reason",
            Field::Name => "name",
            Field::NameAbsent => "name-absence reason",
            Field::Dialled => "dialled number",
            Field::Redirecting => "redirecting number",
            Field::LongDistance => "call qualifier",
            Field::CallType => "call type",
            Field::Indicator => "message-waiting indicator",
            Field::MessageCount => "message count",
        })
    }
}

/// Everything that can go wrong encoding, decoding, receiving or converting caller ID.
///
/// Offsets (`offset`) are byte positions in the whole frame, counting the message-type byte as
/// 0 and the length byte as 1, so data starts at 2. Indexes in the DTMF variants are character
/// positions in the DTMF string. Character indexes in [`CidError::BadChar`] count `char`s in the
/// field being encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidError {
    /// The frame ends before its declared end. `expected` is the full frame length
    /// (3 + the length byte), or `None` when even the length byte is missing.
    Truncated {
        /// Bytes the frame should have, when known.
        expected: Option<usize>,
        /// Bytes actually there.
        received: usize,
    },
    /// The slice holds more than one frame's worth of bytes.
    TrailingBytes {
        /// Frame length from its length byte (3 + length).
        expected: usize,
        /// Bytes given.
        received: usize,
    },
    /// The checksum byte does not match the data (GR-30-CORE / EN 300 659-3: two's complement
    /// of the mod-256 sum of type, length and data).
    Checksum {
        /// Checksum computed over the received type, length and data.
        expected: u8,
        /// Checksum byte received.
        found: u8,
    },
    /// The message-type byte is none of 0x04, 0x06, 0x80, 0x82. The message is not decoded.
    UnknownType {
        /// The type byte.
        type_byte: u8,
    },
    /// An MDMF parameter's length runs past the end of the message.
    ParamOverrun {
        /// Parameter type code.
        code: u8,
        /// Offset of the parameter's type byte.
        offset: usize,
    },
    /// A field has a length outside what its format allows.
    BadLength {
        /// Which field.
        field: Field,
        /// Offset of the field (parameter type byte for MDMF, first data byte for SDMF).
        offset: usize,
        /// Smallest allowed length.
        min: usize,
        /// Largest allowed length.
        max: usize,
        /// Length found.
        found: usize,
    },
    /// A received byte is not allowed in its field.
    BadByte {
        /// Which field.
        field: Field,
        /// Offset of the byte in the frame.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A character of a field to encode has no representation on the wire.
    BadChar {
        /// Which field.
        field: Field,
        /// Position of the character in the field (in `char`s).
        index: usize,
        /// The character.
        ch: char,
    },
    /// A field is longer than the format (or this crate's storage) allows.
    TooLong {
        /// Which field.
        field: Field,
        /// Largest allowed length in bytes.
        max: usize,
        /// Length found or requested.
        len: usize,
    },
    /// A field the format requires is missing.
    Missing {
        /// Which field.
        field: Field,
    },
    /// Both a value and a reason for its absence were given (number and number-absent, or name
    /// and name-absent).
    Conflict {
        /// The value field (`Number` or `Name`).
        field: Field,
    },
    /// The field cannot be carried in the requested format (e.g. a name in SDMF).
    Unrepresentable {
        /// Which field.
        field: Field,
        /// The format, e.g. `"SDMF"` or `"DTMF A…#"`.
        format: &'static str,
    },
    /// The 8N1 framer found a space where the stop bit of frame byte `byte_index` should be
    /// (0 = message type). Raised by [`crate::cid::CidReceiver`] only.
    Framing {
        /// Index of the byte in the frame.
        byte_index: usize,
    },
    /// A DTMF CLIP string does not follow the grammar.
    DtmfSyntax {
        /// Position of the offending character (the string's length if it ended early).
        index: usize,
        /// The character found, or `None` at the end of the string.
        found: Option<char>,
        /// What the grammar allows there.
        expected: &'static str,
    },
    /// A DTMF CLIP information code (`B` + two digits) other than `00` (unavailable) and `10`
    /// (restricted).
    DtmfInfoCode {
        /// Position of the `B`.
        index: usize,
        /// The two-digit code.
        code: u8,
    },
}

impl fmt::Display for CidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CidError::Truncated {
                expected: Some(e),
                received,
            } => write!(f, "truncated frame: {received} of {e} bytes"),
            CidError::Truncated {
                expected: None,
                received,
            } => write!(f, "truncated frame: {received} bytes, no length byte"),
            CidError::TrailingBytes { expected, received } => {
                write!(f, "{received} bytes given for a {expected}-byte frame")
            }
            CidError::Checksum { expected, found } => {
                write!(
                    f,
                    "checksum mismatch: computed {expected:#04x}, received {found:#04x}"
                )
            }
            CidError::UnknownType { type_byte } => {
                write!(f, "unknown message type {type_byte:#04x}")
            }
            CidError::ParamOverrun { code, offset } => {
                write!(
                    f,
                    "parameter {code:#04x} at byte {offset} runs past the end of the message"
                )
            }
            CidError::BadLength {
                field,
                offset,
                min,
                max,
                found,
            } => {
                if min == max {
                    write!(
                        f,
                        "{field} at byte {offset}: length {found}, expected {min}"
                    )
                } else {
                    write!(
                        f,
                        "{field} at byte {offset}: length {found}, expected {min}..={max}"
                    )
                }
            }
            CidError::BadByte {
                field,
                offset,
                byte,
            } => write!(
                f,
                "{field}: byte {byte:#04x} at offset {offset} is not allowed"
            ),
            CidError::BadChar { field, index, ch } => {
                write!(
                    f,
                    "{field}: character {ch:?} at position {index} cannot be sent"
                )
            }
            CidError::TooLong { field, max, len } => {
                write!(f, "{field} too long: {len} bytes, at most {max}")
            }
            CidError::Missing { field } => write!(f, "{field} is required"),
            CidError::Conflict { field } => {
                write!(f, "{field} given together with a reason for its absence")
            }
            CidError::Unrepresentable { field, format } => {
                write!(f, "{field} cannot be carried in {format}")
            }
            CidError::Framing { byte_index } => {
                write!(
                    f,
                    "framing error: no stop bit after frame byte {byte_index}"
                )
            }
            CidError::DtmfSyntax {
                index,
                found: Some(c),
                expected,
            } => write!(
                f,
                "DTMF CLIP: {c:?} at position {index}, expected {expected}"
            ),
            CidError::DtmfSyntax {
                index,
                found: None,
                expected,
            } => write!(
                f,
                "DTMF CLIP: ends at position {index}, expected {expected}"
            ),
            CidError::DtmfInfoCode { index, code } => {
                write!(
                    f,
                    "DTMF CLIP: unknown information code B{code:02} at position {index}"
                )
            }
        }
    }
}

impl core::error::Error for CidError {}
