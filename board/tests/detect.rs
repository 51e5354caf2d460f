//! Inventory, proposal and check on fake machines: sysfs/procfs/dev trees laid out as
//! DAHDI (wctdm24xxp, wct4xxp), ALSA and the tty layer lay them out.

use std::fs;
use std::path::{Path, PathBuf};
use tipring_board::fake::*;
use tipring_board::*;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tipring-board-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn lines(m: &[Mismatch]) -> Vec<String> {
    m.iter().map(ToString::to_string).collect()
}

fn edited(name: &str, from: &str, to: &str) -> Profile {
    let text = builtin_text(name).unwrap();
    assert!(text.contains(from), "{from:?}");
    Profile::parse("edited.toml", &text.replacen(from, to, 1)).unwrap()
}

#[test]
fn analog_card_is_read_proposed_and_checked() {
    let d = scratch("tdm410p");
    let m = FakeMachine::create(&d).unwrap();
    m.add_dahdi_device(&FakeDevice::tdm410p_4fxo_4fxs(1, 1))
        .unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    assert!(inv.dahdi_present);
    assert_eq!(inv.devices.len(), 1);
    let dev = &inv.devices[0];
    assert_eq!(dev.id, "pci:0000:03:00.0");
    assert_eq!(dev.device_type.as_deref(), Some("Wildcard TDM410P"));
    assert_eq!(dev.spans, vec![1]);
    let s = &inv.spans[0];
    assert_eq!(s.spantype.as_deref(), Some("ANALOG_MIXED"));
    assert_eq!((s.basechan, s.channels), (Some(1), Some(8)));
    assert_eq!(s.device.as_deref(), Some("pci:0000:03:00.0"));
    assert_eq!(s.channel_info.len(), 8);
    assert_eq!(s.channel_info[4].name.as_deref(), Some("WCTDM/0/4"));
    assert_eq!(s.port_kind(1), Some((PortKind::Fxo, "sigcap")));
    assert_eq!(s.port_kind(5), Some((PortKind::Fxs, "sigcap")));

    let p = inv.propose();
    assert_eq!(p.hardware, Hardware::Dahdi);
    assert_eq!(
        p.groups
            .iter()
            .map(|g| (g.name.as_str(), g.kind, g.channels.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("lines", PortKind::Fxo, vec![1, 2, 3, 4]),
            ("phones", PortKind::Fxs, vec![5, 6, 7, 8]),
        ]
    );
    assert_eq!(p.dahdi.root, d.join("dev/dahdi"));
    assert_eq!(Profile::parse("p.toml", &p.to_toml()).unwrap(), p);
    assert_eq!(check(&p, &inv, &roots), vec![]);

    // The built-in for this card matches; its /dev/dahdi moves with the dev root.
    let builtin = Profile::builtin("analog-4fxo-4fxs").unwrap();
    assert_eq!(check(&builtin, &inv, &roots), vec![]);

    // A profile with the groups the wrong way round.
    let swapped = edited("analog-4fxo-4fxs", "kind = \"fxo\"", "kind = \"fxs\"");
    assert_eq!(
        lines(&check(&swapped, &inv, &roots)),
        vec!["group lines: channels 1-4 are FXO ports on the card (sigcap), the profile says fxs"]
    );

    // dahdi_cfg ran with a file that made ports 5-6 FXO ports.
    for pos in ["005", "006"] {
        let sig = d.join(format!(
            "sys/bus/dahdi_spans/devices/span-1/dahdi!chan!001!{pos}/sig"
        ));
        fs::write(sig, "FXSKS\n").unwrap();
    }
    fs::write(
        d.join("sys/bus/dahdi_spans/devices/span-1/dahdi!chan!001!007/sig"),
        "FXOKS\n",
    )
    .unwrap();
    let configured = Inventory::read(&roots);
    assert_eq!(
        lines(&check(&builtin, &configured, &roots)),
        vec![
            "group phones: channels 5-6 are configured FXSKS in DAHDI, the profile's system.conf makes them fxoks; load it with dahdi_cfg"
        ]
    );

    // A missing channel node, then no DAHDI nodes at all.
    fs::remove_file(d.join("dev/dahdi/chan/001/005")).unwrap();
    assert_eq!(
        lines(&check(&builtin, &inv, &roots)),
        vec![format!(
            "channel 5: {} missing",
            d.join("dev/dahdi/chan/001/005").display()
        )]
    );
    fs::remove_dir_all(d.join("dev/dahdi/chan/001")).unwrap();
    assert_eq!(
        lines(&check(&builtin, &inv, &roots)),
        vec![format!(
            "span 1: no channel nodes in {} (channels 1-8)",
            d.join("dev/dahdi/chan/001").display()
        )]
    );
    fs::remove_dir_all(d.join("dev/dahdi")).unwrap();
    assert_eq!(
        lines(&check(&builtin, &inv, &roots)),
        vec![format!(
            "the profile's DAHDI root {} does not exist",
            d.join("dev/dahdi").display()
        )]
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn fxs_only_card_without_channel_attributes_goes_by_spantype() {
    let d = scratch("tdm400-fxs");
    let m = FakeMachine::create(&d).unwrap();
    let mut card = FakeDevice::analog(
        "pci:0000:04:00.0",
        "Wildcard TDM400P REV I",
        "WCTDM",
        1,
        1,
        &[PortKind::Fxs; 4],
    );
    card.spans[0].channel_dirs = false; // older DAHDI: no per-channel sysfs
    m.add_dahdi_device(&card).unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    assert_eq!(inv.spans[0].spantype.as_deref(), Some("FXS"));
    assert!(inv.spans[0].channel_info.is_empty());
    // mixed-sip expects four FXO ports on span 1.
    let p = Profile::builtin("mixed-sip").unwrap();
    assert_eq!(
        lines(&check(&p, &inv, &roots)),
        vec![
            "group lines: channels 1-4 are FXS ports on the card (spantype FXS), the profile says fxo"
        ]
    );
    let proposed = inv.propose();
    assert_eq!(proposed.groups.len(), 1);
    assert_eq!(proposed.groups[0].name, "phones");
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn quad_e1_card_is_read_proposed_and_checked() {
    let d = scratch("te410p");
    let m = FakeMachine::create(&d).unwrap();
    m.add_dahdi_device(&FakeDevice::te410p(SpanKind::E1, 1, 1))
        .unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    assert_eq!(inv.spans.len(), 4);
    let s2 = inv.span(2).unwrap();
    assert_eq!(s2.name.as_deref(), Some("TE4/0/2"));
    assert_eq!((s2.basechan, s2.channels), (Some(32), Some(31)));
    assert_eq!(s2.alarms, Some(8));
    assert_eq!(s2.local_spanno, Some(2));
    assert_eq!(s2.linecompat, Some(LINECOMPAT_E1));
    assert_eq!(inv.device_of(s2).unwrap().span_count, Some(4));

    let e1x4 = Profile::builtin("e1x4").unwrap();
    assert_eq!(check(&e1x4, &inv, &roots), vec![]);

    let p = inv.propose();
    assert_eq!(p.spans.len(), 4);
    assert_eq!(
        p.spans.iter().map(|s| s.dchannel).collect::<Vec<_>>(),
        vec![Some(16), Some(47), Some(78), Some(109)]
    );
    assert_eq!(
        p.spans.iter().map(|s| s.timing).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(p.groups[1].channels.len(), 30);
    assert_eq!((p.country.as_str(), p.law), ("uk", Law::Alaw));
    // The proposal is e1x4 but for the names, country and paths.
    assert_eq!(p.spans, e1x4.spans);
    assert_eq!(
        p.system_conf()
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()[..9],
        e1x4.system_conf()
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()[..9]
    );
    assert_eq!(Profile::parse("p.toml", &p.to_toml()).unwrap(), p);
    assert_eq!(check(&p, &inv, &roots), vec![]);

    // A T1 profile on an E1 card.
    let t1 = Profile::builtin("t1").unwrap();
    assert_eq!(
        lines(&check(&t1, &inv, &roots)),
        vec![
            "span 1: the profile says T1, the machine's span 1 is E1 (TE4/0/1 \"T4XXP (PCI) Card 0 Span 1\")"
        ]
    );
    // A fifth span the card does not have.
    let more = format!(
        "{}\n[[span]]\nnumber = 5\nkind = \"e1\"\nframing = \"ccs\"\ncoding = \"hdb3\"\ndchannel = 140\n",
        builtin_text("e1x4").unwrap()
    );
    let more = Profile::parse("more.toml", &more).unwrap();
    let got = lines(&check(&more, &inv, &roots));
    assert_eq!(
        got,
        vec![
            format!(
                "channel 140: {} missing",
                d.join("dev/dahdi/chan/005/016").display()
            ),
            "span 5: the profile says E1, the machine has no span 5 (its spans: 1, 2, 3, 4)".into(),
        ]
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn line_configuration_and_hardware_abilities_are_checked() {
    let d = scratch("te410p-config");
    let m = FakeMachine::create(&d).unwrap();
    let mut card = FakeDevice::te410p(SpanKind::E1, 1, 1);
    // dahdi_cfg has run: span 1 as the profile says, span 2 without CRC-4.
    card.spans[0].lineconfig = 0x100 | 0x200 | 0x400;
    card.spans[1].lineconfig = 0x100 | 0x200;
    // Span 3's framer cannot do CRC-4.
    card.spans[2].linecompat = 0x40 | 0x100 | 0x200;
    m.add_dahdi_device(&card).unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    let e1x4 = Profile::builtin("e1x4").unwrap();
    assert_eq!(
        lines(&check(&e1x4, &inv, &roots)),
        vec![
            "span 2: the profile says ccs/hdb3/crc4, DAHDI has the span configured ccs/hdb3 (lineconfig 0x300); load the profile's system.conf with dahdi_cfg",
            "span 3: the profile asks for crc4, which the span's hardware does not offer (linecompat 0x340)",
        ]
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn t1_card_checks_numbering_and_robbed_bit_profiles() {
    let d = scratch("te410p-t1");
    let m = FakeMachine::create(&d).unwrap();
    m.add_dahdi_device(&FakeDevice::te410p(SpanKind::T1, 1, 1))
        .unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    assert_eq!(
        check(&Profile::builtin("t1").unwrap(), &inv, &roots),
        vec![]
    );
    assert_eq!(
        check(&Profile::builtin("t1-em").unwrap(), &inv, &roots),
        vec![]
    );
    // A profile that numbers span 2 from 30 (the machine: 25-48).
    let text = format!(
        "{}\n[[span]]\nnumber = 2\nfirst_channel = 30\nkind = \"t1\"\nframing = \"esf\"\ncoding = \"b8zs\"\ndchannel = 53\n",
        builtin_text("t1").unwrap()
    );
    let p = Profile::parse("x.toml", &text).unwrap();
    assert_eq!(
        lines(&check(&p, &inv, &roots)),
        // (Its nodes are found: they go by span and position, chan/002/001-024.)
        vec![
            "span 2: the profile puts channels 30-53 on it, the machine's span 2 has channels 25-48"
        ]
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn two_cards_sound_and_serial_in_plain_words() {
    let d = scratch("mixed");
    let m = FakeMachine::create(&d).unwrap();
    m.add_dahdi_device(&FakeDevice::te410p(SpanKind::E1, 1, 1))
        .unwrap();
    m.add_dahdi_device(&FakeDevice::tdm410p_4fxo_4fxs(5, 125))
        .unwrap();
    m.add_sound_card(&FakeSoundCard::ec25(1)).unwrap();
    m.add_serial_port("ttyUSB2", Some("option")).unwrap();
    m.add_serial_port("ttyS0", None).unwrap();
    fs::write(d.join("dev/ttyS1"), "").unwrap();
    fs::create_dir_all(d.join("sys/class/tty/ttyS1")).unwrap();
    fs::write(d.join("sys/class/tty/ttyS1/type"), "0\n").unwrap(); // no UART
    let roots = m.roots();
    let inv = Inventory::read(&roots);

    assert_eq!(inv.sound_cards.len(), 1);
    let c = &inv.sound_cards[0];
    assert_eq!(
        (c.index, c.id.as_str(), c.driver.as_str()),
        (1, "Android", "USB-Audio")
    );
    assert_eq!(c.usb_id.as_deref(), Some("2c7c:0125"));
    assert!(c.long_name.starts_with("Quectel"));
    let ports: Vec<_> = inv
        .serial_ports
        .iter()
        .map(|p| {
            (
                p.path.strip_prefix(&d).unwrap().to_path_buf(),
                p.driver.clone(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        vec![
            (PathBuf::from("dev/ttyS0"), None),
            (PathBuf::from("dev/ttyUSB2"), Some("option".to_string())),
        ]
    );

    let text = inv.to_string().replace(d.to_str().unwrap(), "ROOT");
    let expected = "\
DAHDI (from ROOT/sys):
  device pci:0000:02:05.0: Digium Wildcard TE410P/4, PCI Bus 02 Slot 05, 4 spans
  device pci:0000:03:00.0: Digium Wildcard TDM410P, PCI Bus 03 Slot 01, 1 span
  span 1: E1, TE4/0/1 \"T4XXP (PCI) Card 0 Span 1\", channels 1-31, alarms RED, not configured yet (run dahdi_cfg)
  span 2: E1, TE4/0/2 \"T4XXP (PCI) Card 0 Span 2\", channels 32-62, alarms RED, not configured yet (run dahdi_cfg)
  span 3: E1, TE4/0/3 \"T4XXP (PCI) Card 0 Span 3\", channels 63-93, alarms RED, not configured yet (run dahdi_cfg)
  span 4: E1, TE4/0/4 \"T4XXP (PCI) Card 0 Span 4\", channels 94-124, alarms RED, not configured yet (run dahdi_cfg)
  span 5: analog (ANALOG_MIXED), WCTDM/4 \"Wildcard TDM410P Board 5\", channels 125-132, 125-128 FXO ports, 129-132 FXS ports, from sigcap
Sound cards (from ROOT/proc/asound/cards):
  card 1 (hw:CARD=Android): USB-Audio - Android, Quectel, Incorporated Android at usb-0000:00:14.0-3, high speed, USB id 2c7c:0125
Serial ports (from ROOT/dev):
  ROOT/dev/ttyS0
  ROOT/dev/ttyUSB2 (driver option)
";
    assert_eq!(text, expected);

    let p = inv.propose();
    assert_eq!(p.spans.len(), 5);
    assert_eq!(p.spans[4].first_channel, 125);
    assert_eq!(
        p.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["pri1", "pri2", "pri3", "pri4", "lines", "phones"]
    );
    assert_eq!(p.caller_id, CallerIdStandard::EtsiV23Lr);
    assert_eq!(Profile::parse("p.toml", &p.to_toml()).unwrap(), p);
    assert_eq!(check(&p, &inv, &roots), vec![]);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn empty_machine_proposes_the_sim_board() {
    let d = scratch("empty");
    let m = FakeMachine::create(&d).unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    assert!(!inv.dahdi_present);
    assert!(inv.spans.is_empty() && inv.sound_cards.is_empty() && inv.serial_ports.is_empty());
    let p = inv.propose();
    assert_eq!(p.hardware, Hardware::Sim);
    assert_eq!(
        p.sim,
        Some(SimSection {
            phones: 4,
            trunks: 4
        })
    );
    assert_eq!(Profile::parse("p.toml", &p.to_toml()).unwrap(), p);
    assert_eq!(check(&p, &inv, &roots), vec![]);
    assert_eq!(
        check(&Profile::builtin("sim").unwrap(), &inv, &roots),
        vec![]
    );
    assert_eq!(
        lines(&check(&Profile::builtin("t1").unwrap(), &inv, &roots)),
        vec![
            format!(
                "the profile's DAHDI root {} does not exist",
                d.join("dev/dahdi").display()
            ),
            format!(
                "no DAHDI spans: {} does not exist (is the dahdi module loaded?)",
                d.join("sys/bus/dahdi_spans").display()
            ),
        ]
    );
    // Nothing at all under the roots: still no panic, still an inventory.
    let nowhere = Roots {
        sys: d.join("none/sys"),
        proc_: d.join("none/proc"),
        dev: d.join("none/dev"),
    };
    assert_eq!(Inventory::read(&nowhere).propose().hardware, Hardware::Sim);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dahdi_roots_under_dev_move_with_the_dev_root() {
    let r = Roots {
        sys: "/x/sys".into(),
        proc_: "/x/proc".into(),
        dev: "/x/dev".into(),
    };
    assert_eq!(
        r.dahdi_root(Path::new("/dev/dahdi")),
        Path::new("/x/dev/dahdi")
    );
    assert_eq!(
        r.dahdi_root(Path::new("/run/model/dahdi")),
        Path::new("/run/model/dahdi")
    );
    assert_eq!(
        Roots::default().dahdi_root(Path::new("/dev/dahdi")),
        Path::new("/dev/dahdi")
    );
}

#[test]
fn corrupt_sysfs_is_described_not_trusted() {
    let d = scratch("corrupt");
    let m = FakeMachine::create(&d).unwrap();
    m.add_dahdi_device(&FakeDevice::tdm410p_4fxo_4fxs(1, 1))
        .unwrap();
    let span = d.join("sys/bus/dahdi_spans/devices/span-1");
    fs::write(span.join("basechan"), "4294967295\n").unwrap();
    fs::write(span.join("channels"), "4294967295\n").unwrap();
    fs::write(span.join("alarms"), "0xzz\n").unwrap();
    fs::create_dir_all(d.join("sys/bus/dahdi_spans/devices/span-x")).unwrap();
    fs::create_dir_all(d.join("sys/bus/dahdi_spans/devices/span-2")).unwrap();
    fs::write(d.join("proc/asound/cards"), " 7 [broken\n\u{0}\n").unwrap();
    let roots = m.roots();
    let inv = Inventory::read(&roots);
    assert_eq!(inv.spans.len(), 2);
    assert_eq!(inv.spans[0].alarms, None);
    let text = inv.to_string();
    assert!(
        text.contains(
            "channels 4294967295-8589934589, inconsistent attributes; left out of the proposal"
        ),
        "{text}"
    );
    assert!(
        text.contains("span 2: unknown type, span-2, channels unknown"),
        "{text}"
    );
    assert_eq!(inv.propose().hardware, Hardware::Sim);
    let builtin = Profile::builtin("analog-4fxo-4fxs").unwrap();
    assert_eq!(
        lines(&check(&builtin, &inv, &roots)),
        vec![
            "span 1: the profile puts channels 1-8 on it, the machine's span 1 has channels 4294967295-8589934589"
        ]
    );
    fs::remove_dir_all(&d).unwrap();
}
