//! SIP trunks against a real peer: SIPp calls the `tipringd` process on loopback and sends
//! its digits as RFC 4733 events, as in-band tones, or both at once; the C IVR handler
//! collects them. SIPp plays RTP captures written by `tipring-sipkit`.

mod common;

use common::proc::{Daemon, http};
use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tipring_sipkit::pcap;
use tipring_sipkit::stream::{DtmfCarriage, DtmfOptions, EventStyle, RtpParams};

/// A free UDP port on loopback (and the one above it, for RTP+RTCP pairs).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p.is_multiple_of(2) && p < 65_000 && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair");
}

/// SIPp is installed and may play captures (it sends RTP through a raw socket: root or
/// CAP_NET_RAW).
fn sipp_present() -> bool {
    tipring_sipkit::sipp::sipp_available() && tipring_sipkit::sipp::can_play_pcap()
}

fn config(sip_port: u16, rtp_port: u16) -> String {
    format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\n\n\
         [board]\nphones = 1\ntrunks = 1\n\n\
         [sip]\nlisten = \"127.0.0.1:{sip_port}\"\nchannels = 4\nrtp_port = {rtp_port}\n\n\
         [[route]]\nkind = \"sip\"\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
        common::prompts().display()
    )
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sip").join(name)
}

/// Runs SIPp once as the caller with `pcap` as its RTP; returns its exit status and error
/// log.
fn sipp_call(daemon_sip: u16, scenario_file: &str, pcap: &Path, dir: &Path) -> (i32, String) {
    let media = free_port_pair();
    let out = Command::new("timeout")
        .arg("40")
        .arg("sipp")
        .arg(format!("127.0.0.1:{daemon_sip}"))
        .arg("-sf")
        .arg(scenario(scenario_file))
        .args(["-key", "pcap"])
        .arg(pcap)
        .args(["-key", "rtp_port", &media.to_string()])
        .args(["-key", "hangup_after_ms", "0"])
        .args(["-key", "caller", "5551234"])
        .args([
            "-s",
            "1000",
            "-m",
            "1",
            "-nd",
            "-timeout",
            "30",
            "-trace_err",
        ])
        .args(["-i", "127.0.0.1", "-p", "0", "-mp", &media.to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run sipp");
    let mut errors = String::from_utf8_lossy(&out.stderr).to_string();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with("_errors.log") {
                errors.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    (out.status.code().unwrap_or(-1), errors)
}

fn calls(api: &str) -> Vec<Value> {
    let (code, body) = http(api, "GET", "/v1/calls", "");
    assert_eq!(code, 200);
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// One SIPp call carrying `digits` the way `carriage` says; returns the call's record.
fn call_with_digits(carriage: DtmfCarriage, scenario_file: &str) -> Value {
    let dir = std::env::temp_dir().join(format!(
        "tipring-sip-{}-{}",
        std::process::id(),
        scenario_file.trim_end_matches(".xml")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("digits.pcap");
    // A second of silence first: the handler answers and starts collecting.
    let opts = DtmfOptions {
        carriage,
        ..DtmfOptions::default()
    };
    pcap::write_dtmf(&cap, "1234", &opts, RtpParams::default()).expect("write the capture");
    let sip_port = free_port_pair();
    let rtp_port = free_port_pair().max(20_000);
    let d = Daemon::start(&config(sip_port, rtp_port), &[]);
    let (status, errors) = sipp_call(sip_port, scenario_file, &cap, &dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let cs = calls(&d.api);
        if let Some(c) = cs.iter().find(|c| c["state"] == "ended") {
            break c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no ended call; calls: {cs:?}; sipp {status}: {errors}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 0, "SIPp failed: {errors}\nrecord: {record}");
    let _ = std::fs::remove_dir_all(&dir);
    record
}

fn digit_events(record: &Value) -> Vec<String> {
    record["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .filter(|e| e.starts_with("digit "))
        .map(str::to_string)
        .collect()
}

/// SIPp calls in with PCMU and RFC 4733 digits; the IVR collects them and hangs up.
#[test]
fn sipp_rfc4733_digits_reach_the_ivr() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let r = call_with_digits(
        DtmfCarriage::Rfc4733(EventStyle::Standard),
        "uac_pcmu_4733.xml",
    );
    assert_eq!(r["caller"], "5551234");
    assert_eq!(r["called"], "1000");
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    assert_eq!(digit_events(&r).len(), 4, "each key press once: {r}");
}

/// Cisco-style timing (start packet three times, updates every 50 ms) still gives each
/// digit once.
#[test]
fn sipp_cisco_style_events_count_once() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let r = call_with_digits(
        DtmfCarriage::Rfc4733(EventStyle::Cisco),
        "uac_pcmu_4733.xml",
    );
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    assert_eq!(digit_events(&r).len(), 4, "{r}");
}

/// SIPp offers no telephone-event and sends the digits as tones in the audio: the media
/// engine's in-band detector finds them.
#[test]
fn sipp_inband_digits_reach_the_ivr() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let r = call_with_digits(DtmfCarriage::InBand, "uac_inband.xml");
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
}

/// Tipring calls out through a trunk to a SIPp UAS that answers and keys 1234 as RFC 4733
/// events; the handler on the outbound call collects them and hangs up (SIPp checks the BYE).
#[test]
fn outbound_call_to_sipp_collects_its_digits() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tipring-sip-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("digits.pcap");
    pcap::write_dtmf(&cap, "1234", &DtmfOptions::default(), RtpParams::default()).unwrap();
    let peer = free_port_pair();
    let media = free_port_pair();
    let uas = Command::new("timeout")
        .arg("40")
        .arg("sipp")
        .arg("-sf")
        .arg(scenario("uas_answer_dtmf.xml"))
        .args(["-key", "pcap"])
        .arg(&cap)
        .args(["-key", "rtp_port", &media.to_string()])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &peer.to_string(),
            "-mp",
            &media.to_string(),
        ])
        .args(["-m", "1", "-nd", "-timeout", "30", "-trace_err"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sipp");
    let sip_port = free_port_pair();
    let rtp_port = free_port_pair().max(20_000);
    let cfg = format!(
        "{}\n[[sip.trunk]]\nname = \"pbx\"\nhost = \"127.0.0.1:{peer}\"\n",
        config(sip_port, rtp_port)
    );
    let d = Daemon::start(&cfg, &[]);
    // Channels: 1 phone, 1 trunk, then the SIP slots from 3.
    let (code, body) = http(
        &d.api,
        "POST",
        "/v1/calls",
        "{\"channel\": 3, \"to\": \"2000\", \"handler\": \"ivr-c\"}",
    );
    assert_eq!(code, 201, "{body}");
    let out = uas.wait_with_output().unwrap();
    let mut errors = String::from_utf8_lossy(&out.stderr).to_string();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with("_errors.log") {
            errors.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let record = loop {
        let cs = calls(&d.api);
        if let Some(c) = cs.iter().find(|c| c["state"] == "ended") {
            break c.clone();
        }
        assert!(Instant::now() < deadline, "no ended call: {cs:?}; {errors}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "SIPp UAS failed: {errors}\n{record}"
    );
    assert_eq!(record["direction"], "outbound");
    assert_eq!(record["outcome"], "answered", "{record}");
    assert_eq!(record["digits"], serde_json::json!(["1234"]), "{record}");
    let _ = std::fs::remove_dir_all(&dir);
}
