//! Tipring as a gateway: a SIP call bridged to an analog phone on the sim board, through
//! the real `tipringd` process, with SIPp as the SIP far end.
//!
//! SIPp calls in; the Rust menu answers and the caller keys `1#` as RFC 4733 events; the
//! menu rings phone 1, which the test takes off hook; the two legs are bridged. Then audio
//! and DTMF must cross both ways:
//! * SIP → phone: a 2100 Hz tone SIPp plays is heard by the phone (its call-progress
//!   detector reports it), and a digit SIPp sends as RFC 4733 is heard by the phone as an
//!   in-band digit;
//! * phone → SIP: a 1004 Hz tone the phone plays reaches SIPp's media port, and a digit
//!   the phone keys in band arrives there as RFC 4733 events with no tone left in the audio
//!   (the in-band copy is squelched on the SIP side).
//!
//! What SIPp is sent is decoded independently of the product by `tipring-sipkit`'s wire
//! analyser; what the phone hears comes from `GET /v1/sim/lines/1/heard`.

mod common;

use common::proc::{Daemon, http};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tipring_sipkit::pcap;
use tipring_sipkit::scenarios;
use tipring_sipkit::stream::{DtmfOptions, RtpParams, StreamBuilder, sine};
use tipring_sipkit::tempdir::TempDir;
use tipring_sipkit::wire::{RtpCapture, WireConfig, analyze};

fn sipp_present() -> bool {
    tipring_sipkit::sipp::sipp_available() && tipring_sipkit::sipp::can_play_pcap()
}

fn get(api: &str, path: &str) -> Value {
    let (code, body) = http(api, "GET", path, "");
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits up to `secs` for `f` to return something; on time-out, shows the calls.
fn wait_for<T>(api: &str, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; calls: {}",
            get(api, "/v1/calls")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes a 16-bit mono 8 kHz WAV file.
fn write_wav(path: &std::path::Path, samples: &[i16]) {
    let mut b = Vec::with_capacity(44 + 2 * samples.len());
    let data = (2 * samples.len()) as u32;
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_sip_call_bridged_to_a_phone_passes_audio_and_dtmf_both_ways() {
    common::steal::retry_if_stolen(|| {
        if !sipp_present() {
            eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
            return;
        }
        let dir = TempDir::new("tipring-gateway").expect("a temp dir");
        // What SIPp sends after the ACK: the menu choice, then (once bridged) a digit and a tone.
        let cap = dir.path().join("caller.pcap");
        let mut stream = StreamBuilder::new(RtpParams::default()).unwrap();
        stream
            .silence(1500)
            .unwrap()
            .dtmf("1#", &DtmfOptions::default())
            .unwrap()
            .silence(6500)
            .unwrap()
            .dtmf("5", &DtmfOptions::default())
            .unwrap()
            .silence(500)
            .unwrap()
            .tone(2100.0, -12.0, 2000)
            .unwrap()
            .silence(2000)
            .unwrap();
        pcap::write_stream(&cap, &stream).unwrap();
        // What the phone plays: 1004 Hz at −10 dBm0 for 1.2 s.
        let wav = dir.path().join("phone-tone.wav");
        write_wav(&wav, &sine(1004.0, -10.0, 1200).unwrap());

        let sip_port = tipring_sipkit::ports::free_udp_port_pair([127, 0, 0, 1].into()).unwrap();
        let rtp_port = common::rtp_base(2);
        // Symmetric RTP off: Tipring sends to the SDP's port, where the capture listens.
        let cfg = format!(
            "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\n\n\
         [board]\nphones = 1\ntrunks = 0\n\n\
         [sip]\nlisten = \"127.0.0.1:{sip_port}\"\nchannels = 2\nrtp_port = {rtp_port}\n\
         symmetric_rtp = false\n\n\
         [[route]]\nkind = \"sip\"\nhandler = \"menu\"\nparams = {{ prompts = \"{}\" }}\n",
            common::prompts().display()
        );
        let d = Daemon::start(&cfg, &[]);
        let capture = RtpCapture::start().expect("an RTP capture socket");
        let remote: SocketAddr = ([127, 0, 0, 1], sip_port).into();
        let sipp = scenarios::uac_pcmu_4733(remote, &cap)
            .expect("the scenario")
            .caller("5551234")
            .rtp_port(capture.port())
            .hangup_after(Duration::from_secs(16))
            .timeout(Duration::from_secs(40))
            .start()
            .expect("start SIPp");

        // The menu rings phone 1: answer it.
        wait_for(&d.api, 15, "phone 1 to ring", || {
            let calls = get(&d.api, "/v1/calls");
            calls
                .as_array()?
                .iter()
                .any(|c| {
                    c["channel"] == 1
                        && c["events"]
                            .as_array()
                            .is_some_and(|e| e.iter().any(|e| e["event"] == "ringing the phone"))
                })
                .then_some(())
        });
        // The switch notes the ring when it sends it; the phone rings from the next media tick.
        // Lifting it before then would make the ring fail ("cannot ring while off hook").
        std::thread::sleep(Duration::from_millis(300));
        let (code, body) = http(&d.api, "POST", "/v1/sim/lines/1/offhook", "{}");
        assert_eq!(code, 200, "{body}");
        // Bridged: the SIP call's record names the phone's call.
        wait_for(&d.api, 10, "the bridge", || {
            let calls = get(&d.api, "/v1/calls");
            calls
                .as_array()?
                .iter()
                .any(|c| c["channel"] == 2 && c["bridged_to"].is_u64())
                .then_some(())
        });
        // The phone keys 7 in band, then plays its tone.
        std::thread::sleep(Duration::from_millis(500));
        let (code, body) = http(
            &d.api,
            "POST",
            "/v1/sim/lines/1/dial",
            "{\"digits\": \"7\"}",
        );
        assert_eq!(code, 200, "{body}");
        std::thread::sleep(Duration::from_millis(600));
        let (code, body) = http(
            &d.api,
            "POST",
            "/v1/sim/lines/1/play",
            &format!("{{\"file\": \"{}\"}}", wav.display()),
        );
        assert_eq!(code, 200, "{body}");

        let report = sipp.wait();
        let wire = analyze(&capture.stop(), &WireConfig::default());
        let heard = get(&d.api, "/v1/sim/lines/1/heard");
        let calls = get(&d.api, "/v1/calls");
        let sip_call = calls
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == 2)
            .cloned()
            .expect("the SIP call");
        let context = format!(
            "SIPp: {}\nphone heard: {heard}\nSIP call: {sip_call}\nwire: {} audio, {} event packets, \
         events {:?}, in band {:?}, problems {:?}",
            report.summary(),
            wire.audio_packets,
            wire.event_packets,
            wire.event_digits(),
            wire.inband_digits(),
            wire.problems
        );
        assert!(report.success(), "{context}");
        assert_eq!(sip_call["digits"], serde_json::json!(["1"]), "{context}");

        // Phone → SIP: the digit as events (with three end packets), no tone of it in the
        // audio; the phone's tone in the audio at its level.
        assert_eq!(wire.event_digits(), "7", "{context}");
        assert_eq!(wire.events[0].end_packets, 3, "{context}");
        assert!(!wire.inband_digits().contains('7'), "{context}");
        let tone = wire.tone(1004.0);
        assert!(
            tone.heard(Duration::from_millis(900), -10.0, 3.0),
            "1004 Hz from the phone: {tone:?}\n{context}"
        );

        // SIP → phone: the RFC 4733 digit and the tone, heard in band.
        let heard: Vec<&str> = heard
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["event"].as_str())
            .collect();
        assert_eq!(
            heard.iter().filter(|e| **e == "heard digit 5").count(),
            1,
            "{context}"
        );
        assert!(heard.contains(&"heard tone ced"), "{context}");

        // The SIP call's RTP figures are in its record.
        let rtp = &sip_call["rtp"];
        assert_eq!(rtp["codec"], "PCMU", "{context}");
        assert!(rtp["packets_received"].as_u64().unwrap() > 300, "{context}");
        assert!(rtp["digits_received"].as_u64().unwrap() >= 2, "{context}");
        assert_eq!(rtp["digits_sent"], 1, "{context}");
    })
}
