//! Property tests (style practice 4, "fuzz every parser"): random content round trips;
//! random bytes, strings and samples never panic. Fixed seeds keep CI deterministic.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use super::dtmf_clip::{self, DtmfClipStyle};
use super::*;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x7195_C1D0),
        ..Config::default()
    }
}

fn text<const N: usize>(re: &str) -> impl Strategy<Value = heapless::String<N>> + use<N> {
    proptest::string::string_regex(re)
        .unwrap()
        .prop_filter("fits the capacity", |s| s.len() <= N)
        .prop_map(|s| s.as_str().try_into().unwrap())
}

fn datetime() -> impl Strategy<Value = [u8; 8]> {
    proptest::array::uniform8(b'0'..=b'9')
}

fn absence() -> impl Strategy<Value = Absence> {
    prop_oneof![Just(Absence::OutOfArea), Just(Absence::Private)]
}

/// Number or its absence (SDMF needs one of them).
fn number_or_absence(
    max: usize,
) -> impl Strategy<Value = (Option<heapless::String<32>>, Option<Absence>)> {
    let re = std::format!("[0-9]{{2,{max}}}");
    prop_oneof![
        text::<32>(&re).prop_map(|n| (Some(n), None)),
        absence().prop_map(|a| (None, Some(a))),
    ]
}

fn sdmf_caller_id() -> impl Strategy<Value = CallerId> {
    (datetime(), number_or_absence(10)).prop_map(|(dt, (number, number_absent))| CallerId {
        datetime: Some(dt),
        number,
        number_absent,
        ..CallerId::default()
    })
}

/// A caller ID within the MDMF (`etsi = false`) or ETSI limits.
fn mdmf_caller_id(etsi: bool) -> impl Strategy<Value = CallerId> {
    let (num_max, name_re) = if etsi {
        (20, "[ -~¡-ÿ]{1,50}")
    } else {
        (15, "[ -~]{1,15}")
    };
    let number = prop_oneof![
        Just((None, None)),
        number_or_absence(num_max).prop_map(|x| x)
    ];
    let name = prop_oneof![
        Just((None, None)),
        text::<64>(name_re).prop_map(|n| (Some(n), None)),
        absence().prop_map(|a| (None, Some(a))),
    ];
    let num_re = std::format!("[0-9+*#]{{1,{num_max}}}");
    (
        proptest::option::of(datetime()),
        number,
        name,
        proptest::option::of(text::<32>(&num_re)),
        proptest::option::of(text::<32>(&num_re)),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            move |(
                datetime,
                (number, number_absent),
                (name, name_absent),
                dialled,
                redir,
                ld,
                ct,
            )| {
                CallerId {
                    datetime,
                    number,
                    number_absent,
                    name,
                    name_absent,
                    dialled,
                    redirecting: if etsi { redir } else { None },
                    long_distance: ld,
                    call_type: if etsi { ct } else { None },
                    ..CallerId::default()
                }
            },
        )
}

/// Any message with a format that can carry it.
fn message_and_format() -> impl Strategy<Value = (Message, Format)> {
    prop_oneof![
        sdmf_caller_id().prop_map(|id| (Message::CallerId(id), Format::Sdmf)),
        mdmf_caller_id(false).prop_map(|id| (Message::CallerId(id), Format::Mdmf)),
        mdmf_caller_id(true).prop_map(|id| (Message::CallerId(id), Format::Etsi)),
        any::<bool>().prop_map(|active| (
            Message::Mwi {
                active,
                count: None
            },
            Format::Sdmf
        )),
        (any::<bool>(), proptest::option::of(any::<u8>()))
            .prop_map(|(active, count)| (Message::Mwi { active, count }, Format::Etsi)),
    ]
}

fn standard() -> impl Strategy<Value = FskStandard> {
    prop_oneof![Just(FskStandard::Bell202), Just(FskStandard::V23)]
}

proptest! {
    #![proptest_config(config(512))]

    /// GR-30-CORE / EN 300 659-3: encode then decode gives the message back.
    #[test]
    fn encode_decode_round_trip((msg, format) in message_and_format()) {
        let frame = encode(&msg, format).unwrap();
        prop_assert_eq!(frame.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        prop_assert_eq!(usize::from(frame[1]) + 3, frame.len());
        let d = decode(&frame).unwrap();
        prop_assert_eq!(d.message, msg);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn decode_never_panics(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
    }

    /// Arbitrary data in a well-formed frame (right length, right checksum) never panics, and
    /// whatever decodes re-encodes as MDMF/ETSI or SDMF without panicking either.
    #[test]
    fn decode_well_framed_garbage_never_panics(
        ty in prop_oneof![Just(0x04u8), Just(0x06), Just(0x80), Just(0x82), any::<u8>()],
        data in vec(any::<u8>(), 0..256),
    ) {
        let mut f = std::vec![ty, data.len() as u8];
        f.extend_from_slice(&data[..data.len().min(255)]);
        let c = checksum(&f);
        f.push(c);
        if let Ok(d) = decode(&f) {
            let _ = encode(&d.message, d.format);
            let _ = encode(&d.message, Format::Etsi);
        }
    }

    /// Random strings, and random strings over the DTMF alphabet, never panic the DTMF CLIP
    /// parser; whatever parses formats and parses back the same in the A…C style.
    #[test]
    fn dtmf_clip_parse_never_panics(s in ".{0,40}", d in "[0-9A-D#*]{0,40}") {
        let _ = dtmf_clip::parse(&s);
        if let Ok(id) = dtmf_clip::parse(&d) {
            let again = dtmf_clip::format(&id, DtmfClipStyle::AC).unwrap();
            prop_assert_eq!(dtmf_clip::parse(&again).unwrap(), id);
        }
    }

    /// DTMF CLIP: any number of 1–32 digits round trips in every style.
    #[test]
    fn dtmf_clip_number_round_trip(n in "[0-9]{1,32}", r in proptest::option::of("[0-9]{1,32}")) {
        let mut id = CallerId {
            number: Some(n.as_str().try_into().unwrap()),
            ..CallerId::default()
        };
        for style in DtmfClipStyle::ALL {
            let s = dtmf_clip::format(&id, style).unwrap();
            prop_assert_eq!(dtmf_clip::parse(&s).unwrap(), id.clone());
        }
        if let Some(r) = r {
            id.redirecting = Some(r.as_str().try_into().unwrap());
            let s = dtmf_clip::format(&id, DtmfClipStyle::AC).unwrap();
            prop_assert_eq!(dtmf_clip::parse(&s).unwrap(), id);
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Arbitrary samples in arbitrary chunks never panic the receiver and give no message.
    #[test]
    fn receiver_never_panics_on_random_samples(
        samples in vec(any::<i16>(), 0..6000),
        chunk in 1usize..700,
        standard in standard(),
    ) {
        let ev = receive(CidRxConfig::new(standard), &samples, chunk);
        let no_message = ev.iter().all(|e| !matches!(e, CidEvent::Message { .. }));
        prop_assert!(no_message, "{:?}", ev);
    }

    /// The burst has exactly ⌈bits·20/3⌉ samples for any frame and preamble.
    #[test]
    fn burst_length_matches_bit_count(
        frame in vec(any::<u8>(), 0..=258),
        seizure in any::<bool>(),
        mark_bits in 0u16..400,
        tail_bits in 0u16..20,
    ) {
        let cfg = FskConfig { seizure, mark_bits, tail_bits, ..FskConfig::default() };
        let bits = if seizure { 300 } else { 0 } + usize::from(mark_bits)
            + 10 * frame.len() + usize::from(tail_bits);
        let mut tx = FskModulator::new(cfg);
        tx.load(&frame).unwrap();
        prop_assert_eq!(tx.remaining_samples(), (bits * 20).div_ceil(3));
        prop_assert_eq!(modulate(cfg, &frame).len(), (bits * 20).div_ceil(3));
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Round trip through the air: random messages, both standards, random level and chunk
    /// size, on-hook or call waiting, 20 dB SNR.
    #[test]
    fn fsk_round_trip_random_messages(
        (msg, format) in message_and_format(),
        standard in standard(),
        level in -40.0f32..-5.0,
        on_hook in any::<bool>(),
        chunk in 1usize..400,
        seed in any::<u64>(),
    ) {
        let base = if on_hook {
            FskConfig::on_hook(standard)
        } else {
            FskConfig::call_waiting(standard)
        };
        let cfg = FskConfig { level_dbm0: level, ..base };
        let burst = modulate(cfg, &encode(&msg, format).unwrap());
        let clean: Vec<f64> = padded(&burst).iter().map(|&v| f64::from(v)).collect();
        let power = f64::from(dbm0_to_power(level));
        let audio = add_noise(&clean, power, 20.0, &mut super::Rng::new(seed));
        let ev = receive(CidRxConfig::new(standard), &audio, chunk);
        prop_assert_eq!(ev.len(), 1, "{:?}", ev);
        match &ev[0] {
            CidEvent::Message { message, .. } => prop_assert_eq!(message, &msg),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
