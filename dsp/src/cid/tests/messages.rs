//! Message encoding and decoding: GR-30-CORE SDMF/MDMF, EN 300 659-3 ETSI CLIP.

use std::string::ToString;

use super::*;

fn s32(s: &str) -> heapless::String<32> {
    s.try_into().unwrap()
}

fn s64(s: &str) -> heapless::String<64> {
    s.try_into().unwrap()
}

fn sum_is_zero(frame: &[u8]) -> bool {
    frame.iter().fold(0u8, |a, &b| a.wrapping_add(b)) == 0
}

/// Builds a frame from type and data, with the right length and checksum.
fn frame(ty: u8, data: &[u8]) -> Vec<u8> {
    let mut f = std::vec![ty, data.len() as u8];
    f.extend_from_slice(data);
    let c = checksum(&f);
    f.push(c);
    f
}

#[test]
fn gr30_sdmf_caller_id_layout_and_checksum() {
    // GR-30-CORE SDMF: type 0x04, length, MMDDHHMM, number; checksum makes the sum 0 mod 256.
    let id = CallerId {
        datetime: Some(*b"01021504"),
        number: Some(s32("5551234567")),
        ..CallerId::default()
    };
    let f = encode(&Message::CallerId(id.clone()), Format::Sdmf).unwrap();
    assert_eq!(f[0], 0x04);
    assert_eq!(f[1], 18);
    assert_eq!(&f[2..10], b"01021504");
    assert_eq!(&f[10..20], b"5551234567");
    assert_eq!(f.len(), 21);
    assert!(sum_is_zero(&f));
    let d = decode(&f).unwrap();
    assert_eq!(d.format, Format::Sdmf);
    assert_eq!(d.message, Message::CallerId(id));
}

#[test]
fn gr30_sdmf_out_of_area_and_private() {
    // GR-30-CORE SDMF: a single 'O' or 'P' in place of the number.
    for (a, b) in [(Absence::OutOfArea, b'O'), (Absence::Private, b'P')] {
        let id = CallerId {
            datetime: Some(*b"12312359"),
            number_absent: Some(a),
            ..CallerId::default()
        };
        let f = encode(&Message::CallerId(id.clone()), Format::Sdmf).unwrap();
        assert_eq!(
            &f[..],
            &frame(0x04, &[b"12312359".as_slice(), &[b]].concat())[..]
        );
        assert_eq!(decode(&f).unwrap().message, Message::CallerId(id));
    }
}

#[test]
fn gr30_mdmf_parameter_layout() {
    // GR-30-CORE MDMF: type 0x80, then (type, length, value) parameters.
    let id = CallerId {
        datetime: Some(*b"03141592"),
        number: Some(s32("8005551212")),
        name: Some(s64("DOE JOHN")),
        ..CallerId::default()
    };
    let f = encode(&Message::CallerId(id.clone()), Format::Mdmf).unwrap();
    let mut data = std::vec![0x01, 8];
    data.extend_from_slice(b"03141592");
    data.extend_from_slice(&[0x02, 10]);
    data.extend_from_slice(b"8005551212");
    data.extend_from_slice(&[0x07, 8]);
    data.extend_from_slice(b"DOE JOHN");
    assert_eq!(&f[..], &frame(0x80, &data)[..]);
    let d = decode(&f).unwrap();
    assert_eq!(d.format, Format::Mdmf);
    assert_eq!(d.message, Message::CallerId(id));
}

#[test]
fn gr30_mdmf_absence_reasons_and_long_distance() {
    // GR-30-CORE MDMF parameters 0x04 / 0x08 ('O' / 'P') and 0x06 'L'.
    let id = CallerId {
        number_absent: Some(Absence::OutOfArea),
        name_absent: Some(Absence::Private),
        long_distance: true,
        dialled: Some(s32("2125550000")),
        ..CallerId::default()
    };
    let f = encode(&Message::CallerId(id.clone()), Format::Mdmf).unwrap();
    let data = [
        0x04, 1, b'O', 0x03, 10, b'2', b'1', b'2', b'5', b'5', b'5', b'0', b'0', b'0', b'0', 0x06,
        1, b'L', 0x08, 1, b'P',
    ];
    assert_eq!(&f[..], &frame(0x80, &data)[..]);
    assert_eq!(decode(&f).unwrap().message, Message::CallerId(id));
}

#[test]
fn en300659_3_call_setup_parameters() {
    // EN 300 659-3 call set-up 0x80: redirecting number 0x1A, call type 0x11, names up to 50.
    let name: std::string::String = core::iter::repeat_n('X', 50).collect();
    let id = CallerId {
        datetime: Some(*b"07041776"),
        number: Some(s32("+4930123456789012345")),
        redirecting: Some(s32("0301234567")),
        name: Some(s64(&name)),
        call_type: Some(0x01),
        ..CallerId::default()
    };
    let f = encode(&Message::CallerId(id.clone()), Format::Etsi).unwrap();
    assert_eq!(f[0], 0x80);
    assert!(f.windows(2).any(|w| w == [0x1A, 10]));
    assert!(f.windows(3).any(|w| w == [0x11, 1, 0x01]));
    assert_eq!(decode(&f).unwrap().message, Message::CallerId(id.clone()));
    // GR-30 MDMF limits the name to 15 characters and the number to 15.
    assert_eq!(
        encode(&Message::CallerId(id), Format::Mdmf),
        Err(CidError::TooLong {
            field: Field::Number,
            max: 15,
            len: 20
        })
    );
}

#[test]
fn en300659_3_unknown_parameters_are_skipped_and_listed() {
    // EN 300 659-3: parameters a receiver does not know are skipped by their length.
    let mut data = std::vec![0x05, 1, b'1', 0x02, 3, b'1', b'2', b'3', 0x0E, 0];
    data.extend_from_slice(&[0x50, 4, 1, 2, 3, 4]);
    let d = decode(&frame(0x80, &data)).unwrap();
    let Message::CallerId(id) = d.message else {
        panic!("{d:?}")
    };
    assert_eq!(id.number.as_deref(), Some("123"));
    assert_eq!(&id.skipped[..], &[0x05, 0x0E, 0x50]);
}

#[test]
fn gr30_and_en300659_3_message_waiting() {
    // GR-30-CORE SDMF 0x06: 0x42 ×3 on, 0x6F ×3 off.
    for (active, b) in [(true, 0x42), (false, 0x6F)] {
        let m = Message::Mwi {
            active,
            count: None,
        };
        let f = encode(&m, Format::Sdmf).unwrap();
        assert_eq!(&f[..], &frame(0x06, &[b, b, b])[..]);
        assert_eq!(decode(&f).unwrap().message, m);
    }
    // MDMF / ETSI 0x82, visual indicator 0x0B: 0xFF on, 0x00 off; ETSI 0x13 message count.
    for (active, b) in [(true, 0xFF), (false, 0x00)] {
        let m = Message::Mwi {
            active,
            count: None,
        };
        let f = encode(&m, Format::Mdmf).unwrap();
        assert_eq!(&f[..], &frame(0x82, &[0x0B, 1, b])[..]);
        assert_eq!(decode(&f).unwrap().message, m);
    }
    let m = Message::Mwi {
        active: true,
        count: Some(3),
    };
    let f = encode(&m, Format::Etsi).unwrap();
    assert_eq!(&f[..], &frame(0x82, &[0x0B, 1, 0xFF, 0x13, 1, 3])[..]);
    assert_eq!(decode(&f).unwrap().message, m);
}

#[test]
fn gr30_checksum_mismatch_is_reported_with_both_values() {
    let id = CallerId {
        datetime: Some(*b"01021504"),
        number: Some(s32("5551234567")),
        ..CallerId::default()
    };
    let good = encode(&Message::CallerId(id), Format::Sdmf).unwrap();
    let mut bad = good.clone();
    bad[12] ^= 0x04;
    let expected = checksum(&bad[..bad.len() - 1]);
    assert_eq!(
        decode(&bad),
        Err(CidError::Checksum {
            expected,
            found: good[good.len() - 1]
        })
    );
}

#[test]
fn unknown_message_type_is_an_error_not_a_partial_message() {
    // Types other than 0x04/0x06/0x80/0x82 (e.g. ETSI 0x86 charge, 0x89 SMS) are refused whole.
    for ty in [0x00, 0x81, 0x86, 0x89, 0xFF] {
        assert_eq!(
            decode(&frame(
                ty,
                &[0x01, 8, b'0', b'1', b'0', b'1', b'0', b'0', b'0', b'0']
            )),
            Err(CidError::UnknownType { type_byte: ty })
        );
    }
}

#[test]
fn decode_length_and_field_errors_are_precise() {
    assert_eq!(
        decode(&[]),
        Err(CidError::Truncated {
            expected: None,
            received: 0
        })
    );
    assert_eq!(
        decode(&[0x80]),
        Err(CidError::Truncated {
            expected: None,
            received: 1
        })
    );
    assert_eq!(
        decode(&[0x80, 5, 1, 2]),
        Err(CidError::Truncated {
            expected: Some(8),
            received: 4
        })
    );
    let mut long = frame(0x06, &[0x42; 3]);
    long.push(0);
    assert_eq!(
        decode(&long),
        Err(CidError::TrailingBytes {
            expected: 6,
            received: 7
        })
    );
    // Parameter 0x07 at frame offset 5 claims 9 bytes but only 2 remain.
    assert_eq!(
        decode(&frame(0x80, &[0x02, 1, b'1', 0x07, 9, b'A', b'B'])),
        Err(CidError::ParamOverrun {
            code: 0x07,
            offset: 5
        })
    );
    // A lone parameter code without its length byte.
    assert_eq!(
        decode(&frame(0x80, &[0x02])),
        Err(CidError::ParamOverrun {
            code: 0x02,
            offset: 2
        })
    );
    // Date/time with a non-digit at frame offset 2 + 2 + 3 = 7.
    assert_eq!(
        decode(&frame(0x80, b"\x01\x08012x1504")),
        Err(CidError::BadByte {
            field: Field::DateTime,
            offset: 7,
            byte: b'x'
        })
    );
    assert_eq!(
        decode(&frame(0x80, &[0x01, 4, b'0', b'1', b'0', b'2'])),
        Err(CidError::BadLength {
            field: Field::DateTime,
            offset: 2,
            min: 8,
            max: 8,
            found: 4
        })
    );
    assert_eq!(
        decode(&frame(0x80, &[0x04, 1, b'X'])),
        Err(CidError::BadByte {
            field: Field::NumberAbsent,
            offset: 4,
            byte: b'X'
        })
    );
    assert_eq!(
        decode(&frame(0x06, &[0x42, 0x42, 0x6F])),
        Err(CidError::BadByte {
            field: Field::Indicator,
            offset: 4,
            byte: 0x6F
        })
    );
    assert_eq!(
        decode(&frame(0x04, b"0102150")),
        Err(CidError::BadLength {
            field: Field::Message,
            offset: 2,
            min: 9,
            max: 40,
            found: 7
        })
    );
    assert_eq!(
        decode(&frame(0x82, &[0x13, 1, 2])),
        Err(CidError::Missing {
            field: Field::Indicator
        })
    );
    assert_eq!(
        decode(&frame(0x82, &[0x0B, 1, 0x10])),
        Err(CidError::BadByte {
            field: Field::Indicator,
            offset: 4,
            byte: 0x10
        })
    );
    assert_eq!(
        decode(&frame(0x80, &[0x02, 2, b'1', 0x07])),
        Err(CidError::BadByte {
            field: Field::Number,
            offset: 5,
            byte: 0x07
        })
    );
}

#[test]
fn encode_errors_name_the_field() {
    let base = CallerId {
        datetime: Some(*b"01021504"),
        number: Some(s32("5551234567")),
        ..CallerId::default()
    };
    let enc = |id: &CallerId, f| encode(&Message::CallerId(id.clone()), f);
    let mut id = base.clone();
    id.datetime = None;
    assert_eq!(
        enc(&id, Format::Sdmf),
        Err(CidError::Missing {
            field: Field::DateTime
        })
    );
    let mut id = base.clone();
    id.number = None;
    assert_eq!(
        enc(&id, Format::Sdmf),
        Err(CidError::Missing {
            field: Field::Number
        })
    );
    let mut id = base.clone();
    id.number_absent = Some(Absence::Private);
    assert_eq!(
        enc(&id, Format::Mdmf),
        Err(CidError::Conflict {
            field: Field::Number
        })
    );
    let mut id = base.clone();
    id.name = Some(s64("ACME"));
    assert_eq!(
        enc(&id, Format::Sdmf),
        Err(CidError::Unrepresentable {
            field: Field::Name,
            format: "SDMF"
        })
    );
    id.name_absent = Some(Absence::Private);
    assert_eq!(
        enc(&id, Format::Mdmf),
        Err(CidError::Conflict { field: Field::Name })
    );
    let mut id = base.clone();
    id.name = Some(s64("SIXTEEN CHARS..."));
    assert_eq!(
        enc(&id, Format::Mdmf),
        Err(CidError::TooLong {
            field: Field::Name,
            max: 15,
            len: 16
        })
    );
    let mut id = base.clone();
    id.name = Some(s64("TAB\there"));
    assert_eq!(
        enc(&id, Format::Etsi),
        Err(CidError::BadChar {
            field: Field::Name,
            index: 3,
            ch: '\t'
        })
    );
    let mut id = base.clone();
    id.number = Some(s32("55512345678"));
    assert_eq!(
        enc(&id, Format::Sdmf),
        Err(CidError::TooLong {
            field: Field::Number,
            max: 10,
            len: 11
        })
    );
    let mut id = base.clone();
    id.number = Some(s32("P"));
    assert_eq!(
        enc(&id, Format::Sdmf),
        Err(CidError::BadChar {
            field: Field::Number,
            index: 0,
            ch: 'P'
        })
    );
    let mut id = base;
    id.datetime = Some(*b"0102 504");
    assert_eq!(
        enc(&id, Format::Mdmf),
        Err(CidError::BadChar {
            field: Field::DateTime,
            index: 4,
            ch: ' '
        })
    );
    assert_eq!(
        encode(
            &Message::Mwi {
                active: true,
                count: Some(1)
            },
            Format::Sdmf
        ),
        Err(CidError::Unrepresentable {
            field: Field::MessageCount,
            format: "SDMF"
        })
    );
}

#[test]
fn en300659_3_latin1_names_round_trip() {
    let id = CallerId {
        name: Some(s64("Müller Bjørn")),
        ..CallerId::default()
    };
    let f = encode(&Message::CallerId(id.clone()), Format::Etsi).unwrap();
    // One byte per character on the wire.
    assert_eq!(f[3], 12);
    assert!(f.contains(&0xFC)); // ü
    assert_eq!(decode(&f).unwrap().message, Message::CallerId(id));
}

#[test]
fn error_messages_say_which_field_and_byte() {
    let e = CidError::Checksum {
        expected: 0x12,
        found: 0x34,
    };
    assert_eq!(
        e.to_string(),
        "checksum mismatch: computed 0x12, received 0x34"
    );
    let e = CidError::BadByte {
        field: Field::DateTime,
        offset: 7,
        byte: b'x',
    };
    assert_eq!(
        e.to_string(),
        "date/time: byte 0x78 at offset 7 is not allowed"
    );
    let e = CidError::UnknownType { type_byte: 0x89 };
    assert_eq!(e.to_string(), "unknown message type 0x89");
    let e: &dyn core::error::Error = &CidError::Framing { byte_index: 3 };
    assert_eq!(
        e.to_string(),
        "framing error: no stop bit after frame byte 3"
    );
}
