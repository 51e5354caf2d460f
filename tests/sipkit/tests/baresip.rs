//! baresip phones on loopback: two of them call each other, with DTMF and audio; one
//! registers at a SIPp registrar; SIPp calls one and keys digits.

mod common;

use std::time::Duration;
use tipring_sipkit::baresip::{self, AnswerMode, AudioSource, Baresip, BaresipConfig};
use tipring_sipkit::pcap;
use tipring_sipkit::scenarios;
use tipring_sipkit::stream::{DtmfOptions, RtpParams};
use tipring_sipkit::tempdir::TempDir;
use tipring_sipkit::tone;

const T: Duration = Duration::from_secs(5);

#[test]
fn two_phones_call_key_digits_and_hang_up() {
    if !common::have_baresip() {
        return;
    }
    let mut alice = Baresip::start(BaresipConfig {
        user: "alice".into(),
        record: true,
        ..BaresipConfig::default()
    })
    .unwrap();
    let mut bob = Baresip::start(BaresipConfig {
        user: "bob".into(),
        audio: AudioSource::Tone {
            freq_hz: 1004.0,
            dbm0: -10.0,
        },
        ..BaresipConfig::default()
    })
    .unwrap();
    bob.dial(&alice.uri()).unwrap();
    bob.wait_for("CALL_ESTABLISHED", T).unwrap();
    let e = alice.wait_for("CALL_ESTABLISHED", T).unwrap();
    assert!(e.peer_uri.unwrap().starts_with("sip:bob@"));
    // Let bob's tone flow for a while before the digits.
    std::thread::sleep(Duration::from_millis(1200));
    bob.send_dtmf("19#").unwrap();
    let mut got = String::new();
    for _ in 0..3 {
        let e = alice.wait_for("CALL_DTMF_START", T).unwrap();
        got.push_str(e.param.as_deref().unwrap_or("?"));
    }
    assert_eq!(got, "19#");
    bob.hangup().unwrap();
    bob.wait_for("CALL_CLOSED", T).unwrap();
    alice.wait_for("CALL_CLOSED", T).unwrap();
    // What alice heard: bob's tone, at the level he sent it.
    let heard = alice
        .recordings()
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("a recording of the received audio");
    let samples = baresip::read_wav(&heard).unwrap();
    let r = tone::detect(&samples, 1004.0);
    assert!(r.heard(Duration::from_millis(800), -10.0, 1.0), "{r:?}");
    alice.quit().unwrap();
    bob.quit().unwrap();
}

#[test]
fn manual_answer_and_command_errors() {
    if !common::have_baresip() {
        return;
    }
    let mut alice = Baresip::start(BaresipConfig {
        answer: AnswerMode::Manual,
        ..BaresipConfig::default()
    })
    .unwrap();
    let mut bob = Baresip::start(BaresipConfig {
        user: "bob".into(),
        ..BaresipConfig::default()
    })
    .unwrap();
    // No call: sndcode does not exist yet.
    assert!(bob.send_dtmf("1").is_err());
    assert!(bob.send_dtmf("1x").unwrap_err().to_string().contains("'x'"));
    bob.dial(&alice.uri()).unwrap();
    alice.wait_for("CALL_INCOMING", T).unwrap();
    assert!(
        alice
            .wait_for("CALL_ESTABLISHED", Duration::from_millis(300))
            .is_err()
    );
    alice.answer().unwrap();
    alice.wait_for("CALL_ESTABLISHED", T).unwrap();
    bob.wait_for("CALL_ESTABLISHED", T).unwrap();
    alice.hangup().unwrap();
    bob.wait_for("CALL_CLOSED", T).unwrap();
    let e = alice
        .wait_for("NO_SUCH_EVENT", Duration::from_millis(100))
        .unwrap_err()
        .to_string();
    assert!(e.contains("CALL_CLOSED"), "{e}");
    // Dropping kills the process.
}

#[test]
fn phone_registers_with_digest_at_a_sipp_registrar() {
    if !(common::have_baresip() && common::have_sipp()) {
        return;
    }
    let registrar = scenarios::uas_registrar_auth("carol", "pa55", 0)
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    let mut carol = Baresip::start(BaresipConfig {
        user: "carol".into(),
        password: Some("pa55".into()),
        registrar: Some(registrar.sip_addr()),
        register_interval: 60,
        ..BaresipConfig::default()
    })
    .unwrap();
    let ok = carol.wait_for("REGISTER_OK", T).unwrap();
    assert_eq!(ok.param.as_deref(), Some("200 OK"));
    let r = registrar.wait().check().unwrap();
    let auth: Vec<&str> = r.log_values("REGISTER Authorization: ").collect();
    assert_eq!(auth.len(), 1);
    assert!(tipring_sipkit::digest::verify(auth[0], "REGISTER", "pa55").unwrap());
    carol.quit().unwrap();
}

#[test]
fn sipp_calls_a_phone_and_keys_digits() {
    if !(common::have_baresip() && common::can_play()) {
        return;
    }
    let dir = TempDir::new("bs-sipp").unwrap();
    let p = dir.join("digits.pcap");
    pcap::write_dtmf(&p, "2580", &DtmfOptions::default(), RtpParams::default()).unwrap();
    let mut phone = Baresip::start(BaresipConfig::default()).unwrap();
    // baresip routes an INVITE by the request URI's user: call the phone's own.
    let caller = scenarios::uac_pcmu_4733(phone.sip_addr(), &p)
        .unwrap()
        .service("alice")
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    phone.wait_for("CALL_ESTABLISHED", T).unwrap();
    let mut got = String::new();
    for _ in 0..4 {
        let e = phone.wait_for("CALL_DTMF_START", T).unwrap();
        got.push_str(e.param.as_deref().unwrap_or("?"));
    }
    assert_eq!(got, "2580");
    // The phone hangs up; the scenario was waiting for exactly that.
    phone.hangup().unwrap();
    caller.wait().check().unwrap();
}
