//! `tipring board …` as a user runs it: the real binary on a fake machine (sysfs, procfs and
//! /dev trees in a scratch directory) and on bad profiles, with exact output, error text
//! and exit status.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tipring_board::SpanKind;
use tipring_board::fake::{FakeDevice, FakeMachine, FakeSoundCard};

fn tipring(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tipring"))
        .args(args)
        .output()
        .expect("run tipring")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tipring-board-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// A machine with a TE410P in E1 mode (spans 1-4) and a TDM410P (span 5), an EC25.
fn machine(d: &Path) -> FakeMachine {
    let m = FakeMachine::create(d).unwrap();
    m.add_dahdi_device(&FakeDevice::te410p(SpanKind::E1, 1, 1))
        .unwrap();
    m.add_dahdi_device(&FakeDevice::tdm410p_4fxo_4fxs(5, 125))
        .unwrap();
    m.add_sound_card(&FakeSoundCard::ec25(1)).unwrap();
    m.add_serial_port("ttyUSB2", Some("option")).unwrap();
    m
}

#[test]
fn list_and_show() {
    let out = tipring(&["board", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "sim",
            "analog-4fxo-4fxs",
            "mixed-sip",
            "t1",
            "t1-em",
            "e1x4"
        ]
    );
    assert!(text.contains(
        "t1                One T1 ISDN PRI (ESF/B8ZS, 23B+D), clock from the network (US)\n"
    ));

    let out = tipring(&["board", "show", "t1"]);
    assert!(out.status.success());
    let shown = stdout(&out);
    assert!(shown.starts_with(
        "# Board profile \"t1\", validated, every default written out.\n[board]\nname = \"t1\"\n"
    ));
    let profile = tipring_board::Profile::parse("shown.toml", &shown).unwrap();
    assert_eq!(profile, tipring_board::Profile::builtin("t1").unwrap());

    let out = tipring(&["board", "show", "t9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("tipring: no built-in board profile \"t9\""));
}

#[test]
fn detect_proposes_a_profile_that_checks() {
    let d = scratch("detect");
    machine(&d);
    let (sys, proc_, dev) = (d.join("sys"), d.join("proc"), d.join("dev"));
    let roots = ["--sys", p(&sys), "--proc", p(&proc_), "--dev", p(&dev)];
    let out = tipring(&[&["board", "detect"][..], &roots].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "# What this machine has:\n",
        "#   span 1: E1, TE4/0/1 \"T4XXP (PCI) Card 0 Span 1\", channels 1-31, alarms RED, not configured yet (run dahdi_cfg)\n",
        "#   span 5: analog (ANALOG_MIXED), WCTDM/4 \"Wildcard TDM410P Board 5\", channels 125-132, 125-128 FXO ports, 129-132 FXS ports, from sigcap\n",
        "#   card 1 (hw:CARD=Android): USB-Audio - Android, ",
        "/dev/ttyUSB2 (driver option)\n",
        "\n[[group]]\nname = \"pri2\"\nkind = \"e1\"\nspan = 2\nchannels = \"32-46,48-62\"\nsignalling = \"clear\"\necho_tail_ms = 0\n",
        "\n[[group]]\nname = \"phones\"\nkind = \"fxs\"\nspan = 5\nchannels = \"129-132\"\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    let saved = d.join("proposed.toml");
    fs::write(&saved, &text).unwrap();

    // The proposal names the fake roots, so it checks without flags.
    let out = tipring(&["board", "check", p(&saved)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        stdout(&out),
        "board profile \"detected\" matches this machine\n"
    );

    // So does the built-in for the E1 card, given the roots.
    let out = tipring(&[&["board", "check", "e1x4"][..], &roots].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn check_reports_each_difference_and_exits_1() {
    let d = scratch("check");
    machine(&d);
    fs::remove_file(d.join("dev/dahdi/chan/001/005")).unwrap();
    let (sys, proc_, dev) = (d.join("sys"), d.join("proc"), d.join("dev"));
    let roots = ["--sys", p(&sys), "--proc", p(&proc_), "--dev", p(&dev)];

    let out = tipring(&[&["board", "check", "e1x4"][..], &roots].concat());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "channel 5: {} missing\n",
            d.join("dev/dahdi/chan/001/005").display()
        )
    );
    assert_eq!(
        stderr(&out),
        "tipring: board profile \"e1x4\" does not match this machine (1 difference)\n"
    );

    let out = tipring(&[&["board", "check", "t1"][..], &roots].concat());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "channel 5: {} missing\n\
             span 1: the profile says T1, the machine's span 1 is E1 (TE4/0/1 \"T4XXP (PCI) Card 0 Span 1\")\n",
            d.join("dev/dahdi/chan/001/005").display()
        )
    );
    assert_eq!(
        stderr(&out),
        "tipring: board profile \"t1\" does not match this machine (2 differences)\n"
    );

    // A sim profile has nothing to check.
    let out = tipring(&[&["board", "check", "sim"][..], &roots].concat());
    assert_eq!(out.status.code(), Some(0));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_profiles_exit_2_with_file_line_column_and_key() {
    let d = scratch("bad");
    let bad = d.join("t1.toml");
    fs::write(
        &bad,
        tipring_board::builtin_text("t1")
            .unwrap()
            .replace("coding = \"b8zs\"", "coding = \"hdb3\""),
    )
    .unwrap();
    let want = format!(
        "tipring: {}:20:10: span[0].coding: \"hdb3\" is E1 line coding; a T1 span takes ami or b8zs\n",
        bad.display()
    );
    for cmd in ["show", "check", "dahdi-config"] {
        let out = tipring(&["board", cmd, p(&bad)]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        assert_eq!(stderr(&out), want, "{cmd}");
        assert_eq!(stdout(&out), "", "{cmd}");
    }

    let unknown = d.join("unknown.toml");
    fs::write(&unknown, "[board]\nname = \"x\"\nhardware = \"sim\"\ncountry = \"us\"\ncaller_id = \"none\"\nphones = 4\n").unwrap();
    let out = tipring(&["board", "show", p(&unknown)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "tipring: {}:6:1: unknown field `phones`, expected one of `name`, `description`, `hardware`, `country`, `law`, `caller_id`\n",
            unknown.display()
        )
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn dahdi_config_to_stdout_or_a_file() {
    let d = scratch("conf");
    let out = tipring(&["board", "dahdi-config", "t1"]);
    assert!(out.status.success());
    let conf = stdout(&out);
    assert!(conf.starts_with(
        "# DAHDI configuration (/etc/dahdi/system.conf) for Tipring board profile \"t1\".\n"
    ));
    assert!(conf.contains("# Generated by `tipring board dahdi-config t1`"));
    assert!(conf.contains("\nspan=1,1,0,esf,b8zs\n"));
    assert!(conf.contains("\nbchan=1-23\n"));
    assert!(conf.contains("\ndchan=24\n"));
    assert!(conf.contains("\nloadzone=us\ndefaultzone=us\n"));

    let file = d.join("system.conf");
    let out = tipring(&["board", "dahdi-config", "e1x4", "--out", p(&file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let written = fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        tipring_board::Profile::builtin("e1x4")
            .unwrap()
            .system_conf()
            .unwrap()
    );

    let out = tipring(&["board", "dahdi-config", "sim"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "tipring: board profile \"sim\" is for the simulated board (hardware = \"sim\"): it has no DAHDI system.conf\n"
    );

    let out = tipring(&[
        "board",
        "dahdi-config",
        "t1",
        "--out",
        p(&d.join("no/such/dir/system.conf")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no/such/dir/system.conf: "));
    fs::remove_dir_all(&d).unwrap();
}
