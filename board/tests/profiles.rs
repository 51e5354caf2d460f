//! The built-in profiles, their system.conf, round trips through TOML, and the exact text of
//! validation errors (file:line:column: key: what).

use tipring_board::*;

const EXPECTED: &[(&str, &str)] = &[
    (
        "analog-4fxo-4fxs",
        include_str!("expected/analog-4fxo-4fxs.conf"),
    ),
    ("mixed-sip", include_str!("expected/mixed-sip.conf")),
    ("t1", include_str!("expected/t1.conf")),
    ("t1-em", include_str!("expected/t1-em.conf")),
    ("e1x4", include_str!("expected/e1x4.conf")),
];

#[test]
fn every_builtin_parses_is_named_after_its_file_and_round_trips() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
        .collect();
    files.sort();
    let mut names: Vec<String> = Profile::builtin_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    names.sort();
    assert_eq!(files, names, "board/profiles/*.toml and builtin_names()");
    for name in Profile::builtin_names() {
        let p = Profile::builtin(name).unwrap_or_else(|| panic!("{name} does not parse"));
        assert_eq!(&p.name, name);
        assert!(!p.description.is_empty(), "{name}");
        let from_file = Profile::load(&dir.join(format!("{name}.toml"))).unwrap();
        assert_eq!(from_file, p);
        assert_eq!(Profile::resolve(name).unwrap(), p);
        let again = Profile::parse("again.toml", &p.to_toml())
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", p.to_toml()));
        assert_eq!(again, p, "{name} round trip");
    }
}

#[test]
fn system_conf_of_every_dahdi_builtin() {
    for (name, expected) in EXPECTED {
        let got = Profile::builtin(name).unwrap().system_conf().unwrap();
        assert_eq!(got, *expected, "{name}:\n{got}");
        assert!(
            got.lines().all(|l| !l.starts_with("echocanceller")),
            "{name}: Tipring cancels echo itself"
        );
    }
    let sim = Profile::builtin("sim").unwrap();
    assert!(matches!(
        sim.system_conf(),
        Err(ProfileError::NotDahdi { .. })
    ));
    assert_eq!(
        EXPECTED.len() + 1,
        Profile::builtin_names().len(),
        "a golden system.conf per DAHDI built-in"
    );
}

#[test]
fn builtins_say_what_the_brief_says() {
    let sim = Profile::builtin("sim").unwrap();
    assert_eq!(sim.hardware, Hardware::Sim);
    assert_eq!(
        sim.sim,
        Some(SimSection {
            phones: 4,
            trunks: 4
        })
    );
    assert_eq!(sim.channel_count(), 8);

    let a = Profile::builtin("analog-4fxo-4fxs").unwrap();
    assert_eq!((a.country.as_str(), a.law), ("us", Law::Ulaw));
    assert_eq!(a.caller_id, CallerIdStandard::Bell202);
    assert_eq!(a.groups[0].kind, PortKind::Fxo);
    assert_eq!(a.groups[0].channels, vec![1, 2, 3, 4]);
    assert_eq!(a.groups[1].kind, PortKind::Fxs);
    assert_eq!(a.groups[1].channels, vec![5, 6, 7, 8]);
    assert!(
        a.groups
            .iter()
            .all(|g| g.signalling == Signalling::Kewlstart)
    );

    let t1 = Profile::builtin("t1").unwrap();
    let s = &t1.spans[0];
    assert_eq!(
        (s.kind, s.framing, s.coding, s.timing, s.dchannel),
        (
            SpanKind::T1,
            Some(Framing::Esf),
            Some(Coding::B8zs),
            1,
            Some(24)
        )
    );
    assert_eq!(t1.channel_count(), 23);

    let e = Profile::builtin("e1x4").unwrap();
    assert_eq!(e.law, Law::Alaw);
    let d: Vec<_> = e.spans.iter().map(|s| s.dchannel.unwrap()).collect();
    assert_eq!(d, vec![16, 47, 78, 109]);
    let first: Vec<_> = e.spans.iter().map(|s| s.first_channel).collect();
    assert_eq!(first, vec![1, 32, 63, 94]);
    assert!(
        e.spans
            .iter()
            .all(|s| s.crc4 && s.framing == Some(Framing::Ccs))
    );
    assert_eq!(e.channel_count(), 120);

    let m = Profile::builtin("mixed-sip").unwrap();
    assert_eq!(m.sip, Some(SipSection { channels: 30 }));
    assert_eq!(m.channel_count(), 4);

    let em = Profile::builtin("t1-em").unwrap();
    assert_eq!(em.groups[0].signalling, Signalling::EmWink);
    assert_eq!(em.groups[0].channels.len(), 24);
    assert_eq!(em.spans[0].framing, Some(Framing::D4));
    assert_eq!(em.spans[0].coding, Some(Coding::Ami));
}

#[test]
fn resolve_tells_names_from_paths() {
    let e = Profile::resolve("t2").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no built-in board profile \"t2\" (built-ins: sim, analog-4fxo-4fxs, mixed-sip, t1, t1-em, e1x4); give a path to a .toml file for your own"
    );
    let e = Profile::resolve("no/such/file").unwrap_err();
    assert!(
        e.to_string().starts_with("no/such/file: cannot read: "),
        "{e}"
    );
    let e = Profile::resolve("t1.toml").unwrap_err();
    assert!(matches!(e, ProfileError::Read { .. }), "{e}");
}

/// The built-in `name` with the first `from` replaced by `to`, parsed as `name.toml`.
fn edited(name: &str, from: &str, to: &str) -> String {
    let text = builtin_text(name).unwrap();
    assert!(text.contains(from), "{name} has no {from:?}");
    match Profile::parse(&format!("{name}.toml"), &text.replacen(from, to, 1)) {
        Ok(_) => "accepted".into(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn errors_name_file_line_column_and_key() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "t1",
            "coding = \"b8zs\"",
            "coding = \"hdb3\"",
            "t1.toml:20:10: span[0].coding: \"hdb3\" is E1 line coding; a T1 span takes ami or b8zs",
        ),
        (
            "t1",
            "framing = \"esf\"",
            "framing = \"ccs\"",
            "t1.toml:19:11: span[0].framing: \"ccs\" is E1 framing; a T1 span takes d4 or esf",
        ),
        (
            "t1",
            "lbo = 0",
            "crc4 = true",
            "t1.toml:21:8: span[0].crc4: CRC-4 is an E1 option; a T1 span has none (ESF carries its own CRC-6)",
        ),
        (
            "t1",
            "lbo = 0",
            "lbo = 9",
            "t1.toml:21:7: span[0].lbo: 9: line build-out is 0..=7 (0 = 0 dB)",
        ),
        (
            "t1",
            "dchannel = 24",
            "dchannel = 23",
            "t1.toml:23:12: span[0].dchannel: 23: a T1 span's D-channel is its channel 24, DAHDI channel 24 here",
        ),
        (
            "t1",
            "framing = \"esf\"",
            "framing = \"d4\"",
            "t1.toml:19:11: span[0].framing: \"d4\": a PRI span (one with a dchannel) is framed esf",
        ),
        (
            "t1",
            "channels = \"1-23\"",
            "channels = \"1-24\"",
            "t1.toml:30:12: group[0].channels: channel 24 is span 1's D-channel; leave it out of voice groups",
        ),
        (
            "t1",
            "channels = \"1-23\"",
            "channels = \"1-25\"",
            "t1.toml:30:12: group[0].channels: channel 25 is not on span 1, which has channels 1-24",
        ),
        (
            "t1",
            "channels = \"1-23\"",
            "channels = \"23-1\"",
            "t1.toml:30:12: group[0].channels: \"23-1\": the range 23-1 runs backwards",
        ),
        (
            "t1",
            "channels = \"1-23\"",
            "channels = [1, \"2\"]",
            "t1.toml:30:12: group[0].channels: write channels as a string like \"1-4,7\" or a list of numbers [1, 2, 3]",
        ),
        (
            "t1",
            "signalling = \"clear\"",
            "signalling = \"kewlstart\"",
            "t1.toml:31:14: group[0].signalling: \"kewlstart\" is analog signalling; T1/E1 groups take clear (PRI B-channels), em-wink, fxs-loopstart or fxo-loopstart",
        ),
        (
            "t1",
            "signalling = \"clear\"",
            "signalling = \"em-wink\"",
            "t1.toml:31:14: group[0].signalling: \"em-wink\": span 1 is a PRI span (it has a dchannel); its voice channels are signalling = \"clear\"",
        ),
        (
            "t1",
            "dchannel = 24",
            "",
            "t1.toml:31:14: group[0].signalling: \"clear\" B-channels need a PRI span, and span 1 has no dchannel",
        ),
        (
            "t1",
            "echo_tail_ms = 0",
            "echo_tail_ms = 50",
            "t1.toml:32:16: group[0].echo_tail_ms: 50: expected 0 (off), 32, 64 or 128",
        ),
        (
            "t1",
            "echo_tail_ms = 0",
            "echo_tail_ms = 0\necho_canceller = \"card\"",
            "t1.toml:33:18: group[0].echo_canceller: \"card\": expected \"tipring\" (Tipring's own, in user space) or \"hardware\" (the card's)",
        ),
        (
            "t1",
            "country = \"us\"",
            "country = \"nl\"",
            "t1.toml:8:11: board.country: \"nl\": Tipring has tone plans for us, uk, de or fr",
        ),
        (
            "t1",
            "law = \"ulaw\"",
            "law = \"mulaw\"",
            "t1.toml:9:7: board.law: \"mulaw\": expected ulaw or alaw",
        ),
        (
            "t1",
            "caller_id = \"none\"",
            "caller_id = \"fsk\"",
            "t1.toml:10:13: board.caller_id: \"fsk\": expected bell202, etsi-v23-dtas, etsi-v23-lr, etsi-v23-rp, dtmf or none",
        ),
        (
            "t1",
            "hardware = \"dahdi\"",
            "hardware = \"pci\"",
            "t1.toml:7:12: board.hardware: \"pci\": expected sim or dahdi",
        ),
        (
            "t1",
            "kind = \"t1\"",
            "kind = \"t1\"\nchannels = 31",
            "t1.toml:19:12: span[0].channels: 31: a T1 span has 24 channels",
        ),
        (
            "t1",
            "lbo = 0",
            "frob = 1",
            "t1.toml:21:1: unknown field `frob`, expected one of `number`, `kind`, `channels`, `first_channel`, `framing`, `coding`, `crc4`, `lbo`, `timing`, `dchannel`",
        ),
        (
            "t1",
            "lbo = 0",
            "lbo = -1",
            "t1.toml:21:7: invalid value: integer `-1`, expected u8",
        ),
        (
            "t1",
            "root = \"/dev/dahdi\"",
            "root = \"dev/dahdi\"",
            "t1.toml:13:8: dahdi.root: \"dev/dahdi\": give an absolute path",
        ),
        (
            "t1",
            "hardware = \"dahdi\"",
            "hardware = \"sim\"",
            "t1.toml:12:1: dahdi: a hardware = \"sim\" profile has no DAHDI paths; remove [dahdi]",
        ),
        (
            "e1x4",
            "coding = \"hdb3\"",
            "coding = \"b8zs\"",
            "e1x4.toml:26:10: span[0].coding: \"b8zs\" is T1 line coding; an E1 span takes ami or hdb3",
        ),
        (
            "e1x4",
            "dchannel = 47",
            "dchannel = 48",
            "e1x4.toml:40:12: span[1].dchannel: 48: an E1 span's D-channel is its channel 16, DAHDI channel 47 here",
        ),
        (
            "e1x4",
            "channels = \"32-46,48-62\"",
            "channels = \"32-47,48-62\"",
            "e1x4.toml:75:12: group[1].channels: channel 47 is span 2's D-channel; leave it out of voice groups",
        ),
        (
            "e1x4",
            "span = 2",
            "span = 1",
            "e1x4.toml:75:12: group[1].channels: channel 32 is not on span 1, which has channels 1-31",
        ),
        (
            "e1x4",
            "number = 2",
            "number = 3",
            "e1x4.toml:33:10: span[1].first_channel: span 3 does not directly follow span 1, so its first channel is not known: give first_channel (DAHDI's basechan for the span)",
        ),
        (
            "e1x4",
            "number = 2",
            "number = 1",
            "e1x4.toml:33:10: span[1].number: 1: list the spans once each, in ascending order (span[0] is span 1)",
        ),
        (
            "e1x4",
            "number = 2\n",
            "number = 2\nfirst_channel = 20\n",
            "e1x4.toml:34:17: span[1].first_channel: 20: span 1 already runs to channel 31",
        ),
        (
            "e1x4",
            "name = \"pri2\"",
            "name = \"pri1\"",
            "e1x4.toml:72:8: group[1].name: \"pri1\" is already group[0]'s name",
        ),
        (
            "e1x4",
            "timing = 2",
            "timing = 1",
            "e1x4.toml:39:10: span[1].timing: 1: span 1 already has clock priority 1; give each clock source its own",
        ),
        (
            "e1x4",
            "signalling = \"clear\"",
            "signalling = \"em-wink\"",
            "e1x4.toml:68:14: group[0].signalling: \"em-wink\": span 1 is a PRI span (it has a dchannel); its voice channels are signalling = \"clear\"",
        ),
        (
            "analog-4fxo-4fxs",
            "channels = 8",
            "",
            "analog-4fxo-4fxs.toml:23:8: span[0].channels: missing; an analog span has as many channels as the card has ports (4, 8, 24…)",
        ),
        (
            "analog-4fxo-4fxs",
            "kind = \"fxo\"",
            "kind = \"t1\"",
            "analog-4fxo-4fxs.toml:30:8: group[0].kind: \"t1\", but the channels are on span 1, an analog span; its groups are kind = \"fxs\" (phones) or \"fxo\" (exchange lines)",
        ),
        (
            "analog-4fxo-4fxs",
            "signalling = \"kewlstart\"",
            "signalling = \"em-wink\"",
            "analog-4fxo-4fxs.toml:33:14: group[0].signalling: \"em-wink\" is T1/E1 signalling; analog ports take kewlstart, loopstart or groundstart",
        ),
        (
            "analog-4fxo-4fxs",
            "channels = \"5-8\"",
            "channels = \"4-8\"",
            "analog-4fxo-4fxs.toml:41:12: group[1].channels: channel 4 is already in group \"lines\"",
        ),
        (
            "analog-4fxo-4fxs",
            "channels = \"5-8\"",
            "channels = \"5-9\"",
            "analog-4fxo-4fxs.toml:41:12: group[1].channels: channel 9 is not on span 1, which has channels 1-8",
        ),
        (
            "analog-4fxo-4fxs",
            "kind = \"analog\"",
            "kind = \"analog\"\nframing = \"esf\"",
            "analog-4fxo-4fxs.toml:24:11: span[0].framing: an analog span has no framing; it is a T1/E1 setting",
        ),
        (
            "analog-4fxo-4fxs",
            "kind = \"analog\"",
            "kind = \"analog\"\ntiming = 1",
            "analog-4fxo-4fxs.toml:24:10: span[0].timing: 1: an analog span is never a clock source here; only T1/E1 spans take timing",
        ),
        (
            "sim",
            "trunks = 4",
            "trunks = 4\n[[span]]\nnumber = 1\nkind = \"t1\"",
            "sim.toml:16:1: span[0]: a hardware = \"sim\" profile has no spans; its ports are [sim] phones and trunks",
        ),
        ("sim", "phones = 4", "phones = 0", "accepted"),
        (
            "sim",
            "trunks = 4",
            "trunks = 20000",
            "sim.toml:14:10: sim: phones + trunks is 20004; expected 1..=20000",
        ),
        (
            "sim",
            "caller_id = \"bell202\"",
            "",
            "sim.toml:5:1: missing field `caller_id`",
        ),
        (
            "sim",
            "[sim]",
            "[simx]",
            "sim.toml:13:2: unknown field `simx`, expected one of `board`, `dahdi`, `span`, `group`, `sip`, `sim`",
        ),
        (
            "mixed-sip",
            "channels = 30",
            "channels = 0",
            "mixed-sip.toml:31:12: sip.channels: 0: expected 1..=20000",
        ),
    ];
    for (name, from, to, want) in cases {
        assert_eq!(edited(name, from, to), *want, "{name}: {from:?} -> {to:?}");
    }
}

#[test]
fn channel_lists_take_both_spellings_and_groups_may_infer_their_span() {
    let text = r#"
[board]
name = "x"
hardware = "dahdi"
country = "de"
caller_id = "etsi-v23-dtas"

[[span]]
number = 1
kind = "analog"
channels = 8

[[span]]
number = 2
kind = "e1"
framing = "cas"
coding = "hdb3"
crc4 = false
timing = 1

[[group]]
name = "a"
kind = "fxs"
channels = [2, 1, 3]
signalling = "groundstart"

[[group]]
name = "b"
kind = "fxo"
channels = 8
signalling = "loopstart"
echo_tail_ms = 32

[[group]]
name = "cas"
kind = "e1"
channels = "9-23,25-39"
signalling = "em-wink"
"#;
    let p = Profile::parse("x.toml", text).unwrap();
    assert_eq!(p.law, Law::Alaw, "de defaults to A-law");
    assert_eq!(p.groups[0].channels, vec![1, 2, 3]);
    assert_eq!(p.groups[0].span, Some(1));
    assert_eq!(p.groups[0].echo_tail_ms, 64);
    assert_eq!(p.groups[2].echo_tail_ms, 0);
    assert_eq!(p.groups[2].span, Some(2));
    assert_eq!(p.spans[1].first_channel, 9);
    let conf = p.system_conf().unwrap();
    for line in [
        "\nspan=2,1,0,cas,hdb3\n",
        "\nfxogs=1-3\n",
        "\nalaw=1-3\n",
        "\nfxsls=8\n",
        "\nalaw=8\n",
        "\ne&me1=9-23,25-39\n",
        "\nloadzone=de\n",
    ] {
        assert!(conf.contains(line), "{line:?} in\n{conf}");
    }
    assert_eq!(Profile::parse("again.toml", &p.to_toml()).unwrap(), p);

    // Timeslot 16 of a CAS E1 carries the signalling.
    let e = Profile::parse("x.toml", &text.replace("9-23,25-39", "9-39")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:37:12: group[2].channels: channel 24 is timeslot 16 of span 2, which carries the CAS signalling; leave it out"
    );
    // CAS signalling needs CAS framing on an E1.
    let e = Profile::parse(
        "x.toml",
        &text.replace("\"cas\"\ncoding", "\"ccs\"\ncoding"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:38:14: group[2].signalling: \"em-wink\" on an E1 needs framing = \"cas\", and span 2 is framed ccs"
    );
    // Spans with a gap need first_channel; with it they parse and round-trip.
    let gap = text.replace("number = 2", "number = 3");
    let e = Profile::parse("x.toml", &gap).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "x.toml:14:10: span[1].first_channel: span 3 does not directly follow span 1"
        ),
        "{e}"
    );
    let gap = gap.replace("number = 3", "number = 3\nfirst_channel = 40");
    let p = Profile::parse("x.toml", &gap.replace("9-23,25-39", "40-54,56-70")).unwrap();
    assert_eq!(p.spans[1].first_channel, 40);
    assert!(p.to_toml().contains("first_channel = 40"));
    assert_eq!(Profile::parse("again.toml", &p.to_toml()).unwrap(), p);
}

#[test]
fn errors_in_files_name_the_file() {
    let dir = std::env::temp_dir().join(format!("tipring-board-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[board]\nname = 3\n").unwrap();
    let e = Profile::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:8: invalid type: integer `3`, expected a string",
            path.display()
        )
    );
    let e = Profile::resolve(path.to_str().unwrap()).unwrap_err();
    assert!(matches!(
        e,
        ProfileError::Invalid {
            line: 2,
            column: 8,
            ..
        }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
