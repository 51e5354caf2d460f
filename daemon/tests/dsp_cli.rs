//! The `tipring dsp` tools' contract, run as a user would: the real binary, real files,
//! JSON lines on stdout, one-line errors on stderr and exit status 2 for bad input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tipring(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tipring"))
        .args(args)
        .output()
        .expect("run tipring")
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tipring-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn gen_dtmf_then_detect() {
    let d = dir();
    let f = d.join("d.wav");
    let out = tipring(&["dsp", "gen", "dtmf", "0123456789*#ABCD", "--out", p(&f)]);
    assert!(out.status.success());
    let got = lines(&tipring(&["dsp", "dtmf", p(&f)]));
    let digits: String = got.iter().map(|v| v["digit"].as_str().unwrap()).collect();
    assert_eq!(digits, "0123456789*#ABCD");
    // Keys in the documented order, and times inside each digit's 80 ms tone.
    let first = tipring(&["dsp", "dtmf", p(&f)]).stdout;
    assert!(String::from_utf8_lossy(&first).starts_with("{\"digit\":\"0\",\"at_ms\":"));
    for (i, v) in got.iter().enumerate() {
        let at = v["at_ms"].as_f64().unwrap();
        let start = i as f64 * 160.0;
        assert!(at > start + 20.0 && at < start + 80.0, "digit {i} at {at}");
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn gen_dtmf_options_and_refusals() {
    let d = dir();
    let f = d.join("q.wav");
    let ok = tipring(&[
        "dsp",
        "gen",
        "dtmf",
        "59",
        "--level-dbm0",
        "-20",
        "--on-ms",
        "50",
        "--off-ms",
        "45",
        "--out",
        p(&f),
    ]);
    assert!(ok.status.success());
    let digits: String = lines(&tipring(&["dsp", "dtmf", p(&f)]))
        .iter()
        .map(|v| v["digit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(digits, "59");
    for (args, needle) in [
        (vec!["12x"], "'x' at position 2"),
        (vec!["1", "--on-ms", "40"], "50 ms minimum"),
        (vec!["1", "--level-dbm0", "-30"], "-20 ... -3 dBm0"),
    ] {
        let mut a = vec!["dsp", "gen", "dtmf"];
        a.extend(args);
        a.extend(["--out", p(&f)]);
        let out = tipring(&a);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle) && err.lines().count() == 1, "{err}");
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn bad_wav_input_is_one_line_and_status_2() {
    let d = dir();
    let text = d.join("t.wav");
    std::fs::write(&text, "not audio").unwrap();
    let stereo = d.join("s.wav");
    let mut w = hound::WavWriter::create(
        &stereo,
        hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .unwrap();
    for _ in 0..100 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    for (f, needle) in [
        (text.clone(), "not a WAV file"),
        (
            stereo.clone(),
            "44100 Hz 2 channels 16-bit PCM; expected 8000 Hz mono",
        ),
        (d.join("missing.wav"), "No such file"),
    ] {
        for cmd in [
            vec!["dsp", "dtmf"],
            vec!["dsp", "cid", "decode", "--standard", "v23"],
        ] {
            let mut a = cmd.clone();
            a.push(p(&f));
            let out = tipring(&a);
            assert_eq!(out.status.code(), Some(2), "{a:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(needle) && err.lines().count() == 1, "{err}");
            assert!(out.stdout.is_empty());
        }
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn caller_id_round_trips() {
    let d = dir();
    let f = d.join("c.wav");
    let cases: Vec<(Vec<&str>, &str, Value)> = vec![
        (
            vec![
                "--number",
                "5551234567",
                "--name",
                "JOHN DOE",
                "--datetime",
                "11211845",
            ],
            "bell202",
            serde_json::json!({"number": "5551234567", "name": "JOHN DOE", "datetime": "11211845"}),
        ),
        (
            vec![
                "--format",
                "sdmf",
                "--number",
                "5551234",
                "--datetime",
                "01020304",
            ],
            "bell202",
            serde_json::json!({"number": "5551234", "datetime": "01020304"}),
        ),
        (
            vec![
                "--number",
                "0123456789",
                "--name",
                "Zoë",
                "--datetime",
                "12312359",
            ],
            "v23",
            serde_json::json!({"number": "0123456789", "name": "Zoë", "datetime": "12312359"}),
        ),
        (
            vec!["--absent", "P", "--datetime", "06150930"],
            "v23",
            serde_json::json!({"datetime": "06150930", "absent": "P"}),
        ),
        (
            vec!["--number", "4687654321"],
            "dtmf",
            serde_json::json!({"number": "4687654321"}),
        ),
        (
            vec!["--absent", "O"],
            "dtmf",
            serde_json::json!({"absent": "O"}),
        ),
    ];
    for (args, std, want) in cases {
        let mut a = vec!["dsp", "cid", "encode", "--standard", std, "--out", p(&f)];
        a.extend(args.iter().copied());
        let out = tipring(&a);
        assert!(
            out.status.success(),
            "{a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = lines(&tipring(&[
            "dsp",
            "cid",
            "decode",
            "--standard",
            std,
            p(&f),
        ]));
        assert_eq!(got.len(), 1, "{a:?}");
        let mut v = got[0].clone();
        let at = v
            .as_object_mut()
            .unwrap()
            .remove("at_ms")
            .unwrap()
            .as_f64()
            .unwrap();
        assert!(at > 100.0, "{at}");
        assert_eq!(v, want, "{a:?}");
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn caller_id_refusals() {
    let d = dir();
    let f = d.join("r.wav");
    for (args, needle) in [
        (
            vec![
                "--standard",
                "bell202",
                "--number",
                "1",
                "--datetime",
                "13011200",
            ],
            "not MMDDHHMM",
        ),
        (
            vec!["--standard", "dtmf", "--number", "1", "--name", "X"],
            "only the number",
        ),
        (
            vec![
                "--standard",
                "bell202",
                "--format",
                "sdmf",
                "--number",
                "1",
                "--name",
                "X",
                "--datetime",
                "01010101",
            ],
            "SDMF carries no name",
        ),
        (vec!["--standard", "v23"], "--number N or --absent"),
    ] {
        let mut a = vec!["dsp", "cid", "encode", "--out", p(&f)];
        a.extend(args);
        let out = tipring(&a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn gen_tone_then_progress() {
    let d = dir();
    let f = d.join("t.wav");
    for (plan, tone, ms, want) in [
        ("us", "busy", 6000, "busy"),
        ("us", "sit-vc", 3000, "sit"),
        ("uk", "ringback", 6000, "ringback"),
        ("de", "dial", 3000, "dial"),
        ("fr", "congestion", 4000, "congestion"),
        ("us", "ced", 2000, "ced"),
        ("uk", "cng", 4000, "cng"),
    ] {
        let out = tipring(&[
            "dsp",
            "gen",
            "tone",
            tone,
            "--plan",
            plan,
            "--ms",
            &ms.to_string(),
            "--out",
            p(&f),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = lines(&tipring(&["dsp", "progress", "--plan", plan, p(&f)]));
        assert_eq!(got.len(), 1, "{plan} {tone}: {got:?}");
        assert_eq!(got[0]["tone"], want, "{plan} {tone}");
        let at = got[0]["at_ms"].as_f64().unwrap();
        assert!(at > 300.0 && at < ms as f64, "{plan} {tone} at {at}");
        let text =
            String::from_utf8(tipring(&["dsp", "progress", "--plan", plan, p(&f)]).stdout).unwrap();
        assert!(text.starts_with("{\"tone\":"), "{text}");
    }
    for (args, needle) in [
        (
            vec!["gen", "tone", "nu", "--plan", "us", "--ms", "100"],
            "plan us has no tone \"nu\" (it has: dial,",
        ),
        (
            vec!["gen", "tone", "dial", "--plan", "xx", "--ms", "100"],
            "unknown tone plan \"xx\"",
        ),
        (
            vec!["gen", "tone", "dial", "--plan", "us", "--ms", "0"],
            "--ms 0",
        ),
    ] {
        let mut a = vec!["dsp"];
        a.extend(args);
        a.extend(["--out", p(&f)]);
        let out = tipring(&a);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(d).unwrap();
}

/// `tipring dsp echo`: the echo of FAR (5 ms late, 10 dB down, a little smeared) is taken
/// out of NEAR; OUT is as long as NEAR even where FAR is shorter; a tail it does not cover
/// is refused with exit status 2.
#[test]
fn echo_cancels_the_echo_of_far_in_near() {
    use tipring_dsp::synth::SpeechLike;
    let d = dir();
    let (far_p, near_p, out_p) = (d.join("far.wav"), d.join("near.wav"), d.join("out.wav"));
    let mut s = SpeechLike::new(7, -15.0);
    let far: Vec<i16> = (0..6 * 8000)
        .map(|_| tipring_dsp::osc::sat_i16(s.next_sample()))
        .collect();
    // NEAR runs 0.5 s past FAR.
    let echo = |i: usize| -> f32 {
        let at = |k: usize| {
            i.checked_sub(k)
                .and_then(|j| far.get(j))
                .map_or(0.0, |v| f32::from(*v))
        };
        0.25 * at(40) + 0.12 * at(41) - 0.06 * at(43)
    };
    let near: Vec<i16> = (0..far.len() + 4000)
        .map(|i| echo(i).round() as i16)
        .collect();
    tipringd::wav::write(&far_p, &far).unwrap();
    tipringd::wav::write(&near_p, &near).unwrap();
    let got = lines(&tipring(&[
        "dsp",
        "echo",
        "--tail-ms",
        "32",
        "--far",
        p(&far_p),
        "--near",
        p(&near_p),
        "--out",
        p(&out_p),
        "--no-nlp",
    ]));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["samples"], near.len());
    let erl = got[0]["erl_db"].as_f64().unwrap();
    assert!((7.0..=11.0).contains(&erl), "{got:?}");
    let out = tipringd::wav::read(&out_p).unwrap().samples;
    assert_eq!(out.len(), near.len());
    let power = |x: &[i16]| x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>();
    let (a, b) = (4 * 8000, 6 * 8000);
    let erle = 10.0 * (power(&near[a..b]) / power(&out[a..b]).max(1.0)).log10();
    assert!(erle >= 25.0, "ERLE {erle:.1} dB");

    let bad = tipring(&[
        "dsp",
        "echo",
        "--tail-ms",
        "50",
        "--far",
        p(&far_p),
        "--near",
        p(&near_p),
        "--out",
        p(&out_p),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--tail-ms 50") && err.contains("32, 64 or 128"),
        "{err}"
    );
}
