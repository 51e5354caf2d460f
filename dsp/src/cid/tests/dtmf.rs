//! DTMF CLIP strings (spandsp `adsi.h` formats; Danish and Swedish operator descriptions).

use super::dtmf_clip::{DtmfClipStyle, format, parse};
use super::*;

fn number(n: &str) -> CallerId {
    CallerId {
        number: Some(n.try_into().unwrap()),
        ..CallerId::default()
    }
}

fn absent(a: Absence) -> CallerId {
    CallerId {
        number_absent: Some(a),
        ..CallerId::default()
    }
}

#[test]
fn dtmf_clip_format_every_style() {
    let id = number("0123456789");
    assert_eq!(format(&id, DtmfClipStyle::AC).unwrap(), "A0123456789C");
    assert_eq!(format(&id, DtmfClipStyle::AHash).unwrap(), "A0123456789#");
    assert_eq!(format(&id, DtmfClipStyle::DC).unwrap(), "D0123456789C");
    assert_eq!(format(&id, DtmfClipStyle::Plain).unwrap(), "0123456789#");
    let mut r = id.clone();
    r.redirecting = Some("5551234".try_into().unwrap());
    assert_eq!(
        format(&r, DtmfClipStyle::AC).unwrap(),
        "A0123456789D5551234C"
    );
    // Absence codes: B00 unavailable, B10 restricted; Danish D1# restricted, D3# technical.
    let o = absent(Absence::OutOfArea);
    let p = absent(Absence::Private);
    assert_eq!(format(&o, DtmfClipStyle::AC).unwrap(), "B00C");
    assert_eq!(format(&p, DtmfClipStyle::AC).unwrap(), "B10C");
    assert_eq!(format(&o, DtmfClipStyle::DC).unwrap(), "B00C");
    assert_eq!(format(&o, DtmfClipStyle::AHash).unwrap(), "D3#");
    assert_eq!(format(&p, DtmfClipStyle::AHash).unwrap(), "D1#");
    // Fields DTMF CLIP cannot carry are ignored.
    let mut full = id;
    full.name = Some("IGNORED".try_into().unwrap());
    full.datetime = Some(*b"01010000");
    assert_eq!(format(&full, DtmfClipStyle::AC).unwrap(), "A0123456789C");
}

#[test]
fn dtmf_clip_parse_every_form() {
    assert_eq!(parse("A0123456789C").unwrap(), number("0123456789"));
    assert_eq!(parse("A0123456789#").unwrap(), number("0123456789"));
    assert_eq!(parse("D0123456789C").unwrap(), number("0123456789"));
    assert_eq!(parse("D886212345#").unwrap(), number("886212345"));
    assert_eq!(parse("0123456789#").unwrap(), number("0123456789"));
    assert_eq!(parse("12345C").unwrap(), number("12345"));
    let mut r = number("0123456789");
    r.redirecting = Some("5551234".try_into().unwrap());
    assert_eq!(parse("A0123456789D5551234C").unwrap(), r);
    assert_eq!(parse("B00C").unwrap(), absent(Absence::OutOfArea));
    assert_eq!(parse("B10C").unwrap(), absent(Absence::Private));
    assert_eq!(parse("B10#").unwrap(), absent(Absence::Private));
    assert_eq!(parse("AB00C").unwrap(), absent(Absence::OutOfArea));
    assert_eq!(parse("D1#").unwrap(), absent(Absence::Private));
    assert_eq!(parse("D2#").unwrap(), absent(Absence::OutOfArea));
    assert_eq!(parse("D3#").unwrap(), absent(Absence::OutOfArea));
}

#[test]
fn dtmf_clip_errors_point_at_the_character() {
    let syn = |index, found, expected| CidError::DtmfSyntax {
        index,
        found,
        expected,
    };
    assert_eq!(parse(""), Err(syn(0, None, "A, B, D or a digit")));
    assert_eq!(parse("*12#"), Err(syn(0, Some('*'), "A, B, D or a digit")));
    assert_eq!(parse("A123"), Err(syn(4, None, "D, B, C or #")));
    assert_eq!(parse("A12*3C"), Err(syn(3, Some('*'), "D, B, C or #")));
    assert_eq!(parse("AC"), Err(syn(1, Some('C'), "a digit")));
    assert_eq!(parse("a123c"), Err(syn(0, Some('a'), "A, B, D or a digit")));
    assert_eq!(
        parse("A12C7"),
        Err(syn(4, Some('7'), "the end after C or #"))
    );
    assert_eq!(
        parse("B1C"),
        Err(syn(2, Some('C'), "a two-digit information code"))
    );
    assert_eq!(
        parse("D12D3C"),
        Err(syn(3, Some('D'), "C or #")),
        "a redirect only follows A"
    );
    assert_eq!(
        parse("B05C"),
        Err(CidError::DtmfInfoCode { index: 0, code: 5 })
    );
    assert_eq!(
        parse("A123B10C"),
        Err(CidError::Conflict {
            field: Field::Number
        })
    );
    let long: std::string::String = core::iter::once('A')
        .chain(core::iter::repeat_n('1', 33))
        .chain(core::iter::once('C'))
        .collect();
    assert_eq!(
        parse(&long),
        Err(CidError::TooLong {
            field: Field::Number,
            max: 32,
            len: 33
        })
    );
}

#[test]
fn dtmf_clip_format_errors() {
    assert_eq!(
        format(&CallerId::default(), DtmfClipStyle::AC),
        Err(CidError::Missing {
            field: Field::Number
        })
    );
    assert_eq!(
        format(&number("555-1234"), DtmfClipStyle::AC),
        Err(CidError::BadChar {
            field: Field::Number,
            index: 3,
            ch: '-'
        })
    );
    assert_eq!(
        format(&absent(Absence::Private), DtmfClipStyle::Plain),
        Err(CidError::Unrepresentable {
            field: Field::NumberAbsent,
            format: "DTMF …#"
        })
    );
    let mut r = number("123");
    r.redirecting = Some("456".try_into().unwrap());
    assert_eq!(
        format(&r, DtmfClipStyle::AHash),
        Err(CidError::Unrepresentable {
            field: Field::Redirecting,
            format: "DTMF A…#"
        })
    );
    let mut both = number("123");
    both.number_absent = Some(Absence::OutOfArea);
    assert_eq!(
        format(&both, DtmfClipStyle::DC),
        Err(CidError::Conflict {
            field: Field::Number
        })
    );
}

#[test]
fn dtmf_clip_round_trips_in_every_style() {
    for style in DtmfClipStyle::ALL {
        let id = number("4512345678");
        assert_eq!(parse(&format(&id, style).unwrap()).unwrap(), id);
        if style != DtmfClipStyle::Plain {
            for a in [Absence::OutOfArea, Absence::Private] {
                let id = absent(a);
                assert_eq!(
                    parse(&format(&id, style).unwrap()).unwrap(),
                    id,
                    "{style:?}"
                );
            }
        }
    }
}
