//! SIPp plays the captures this crate writes, and the wire decoder reads them back from a
//! loopback socket: each DTMF carriage and vendor style, ptime 30, tones.

mod common;

use std::path::Path;
use std::time::Duration;
use tipring_sipkit::pcap::{self, PcapSummary};
use tipring_sipkit::scenarios;
use tipring_sipkit::sipp::Sipp;
use tipring_sipkit::stream::{
    DtmfCarriage, DtmfOptions, EventStyle, Ptime, RtpParams, StreamBuilder,
};
use tipring_sipkit::tempdir::TempDir;
use tipring_sipkit::wire::{self, RtpCapture, WireConfig, WireReport};

/// A UAC scenario plays `pcap` towards a peer whose SDP points at a capture socket; the
/// peer hangs up once the capture has had time to play.
fn uac_plays(
    uac: fn(std::net::SocketAddr, &Path) -> tipring_sipkit::Result<Sipp>,
    pcap: &Path,
    summary: PcapSummary,
) -> WireReport {
    let dir = TempDir::new("media").unwrap();
    let capture = RtpCapture::start().unwrap();
    let callee = scenarios::peer_uas_answer(&common::short_silence(&dir))
        .unwrap()
        .rtp_port(capture.port())
        .hangup_after(summary.duration + Duration::from_millis(400))
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    let caller = uac(callee.sip_addr(), pcap)
        .unwrap()
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    let caller = caller.wait();
    let callee = callee.wait();
    caller.clone().check().unwrap();
    callee.check().unwrap();
    let n = capture.wait_quiet(
        summary.packets,
        Duration::from_millis(50),
        Duration::from_secs(2),
    );
    assert_eq!(n, summary.packets, "{}", caller.summary());
    let got = capture.stop();
    // Every datagram came from SIPp's media port (the source of symmetric RTP).
    assert!(got.iter().all(|d| d.from.port() == caller.media_port));
    wire::analyze(&got, &WireConfig::default())
}

fn dtmf_pcap(
    dir: &TempDir,
    digits: &str,
    carriage: DtmfCarriage,
) -> (std::path::PathBuf, PcapSummary) {
    let p = dir.join("dtmf.pcap");
    let opts = DtmfOptions {
        carriage,
        ..DtmfOptions::default()
    };
    let s = pcap::write_dtmf(&p, digits, &opts, RtpParams::default()).unwrap();
    (p, s)
}

fn events_arrive(style: EventStyle) {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("style").unwrap();
    let (p, s) = dtmf_pcap(&dir, "159#", DtmfCarriage::Rfc4733(style));
    let r = uac_plays(scenarios::uac_pcmu_4733, &p, s);
    assert_eq!(r.event_digits(), "159#", "{style:?}");
    assert_eq!(r.inband_digits(), "", "{style:?}");
    assert_eq!(r.seq_gaps, 0);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    for e in &r.events {
        assert!(e.marker, "{style:?}: {e:?}");
        match style {
            EventStyle::NoEnd => assert_eq!(e.end_packets, 0),
            EventStyle::Pimg => {
                assert_eq!(e.end_duration, Some(480));
                assert_eq!(e.max_duration, 640);
            }
            _ => assert_eq!((e.end_packets, e.end_duration), (3, Some(640))),
        }
        // Event timestamps are the tone's first sample: 200 ms lead, then 160 ms a digit.
    }
    let first = r.events[0].timestamp;
    assert_eq!(r.events[1].timestamp - first, 1280);
}

#[test]
fn standard_events_arrive() {
    events_arrive(EventStyle::Standard);
}

#[test]
fn cisco_events_arrive() {
    events_arrive(EventStyle::Cisco);
}

#[test]
fn pimg_events_arrive() {
    events_arrive(EventStyle::Pimg);
}

#[test]
fn events_without_end_arrive() {
    events_arrive(EventStyle::NoEnd);
}

#[test]
fn inband_digits_arrive_without_events() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("inband").unwrap();
    let (p, s) = dtmf_pcap(&dir, "0123456789*#ABCD", DtmfCarriage::InBand);
    let r = uac_plays(scenarios::uac_inband, &p, s);
    assert_eq!(r.event_digits(), "");
    assert_eq!(r.inband_digits(), "0123456789*#ABCD");
    assert_eq!(r.event_packets, 0);
}

#[test]
fn both_carry_each_digit_twice() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("both").unwrap();
    let (p, s) = dtmf_pcap(&dir, "42*", DtmfCarriage::Both(EventStyle::Cisco));
    let r = uac_plays(scenarios::uac_pcmu_4733, &p, s);
    assert_eq!(r.event_digits(), "42*");
    assert_eq!(r.inband_digits(), "42*");
}

#[test]
fn tone_at_ptime_30_is_heard() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("tone").unwrap();
    let p = dir.join("tone.pcap");
    let params = RtpParams {
        ptime: Ptime::Ms30,
        ..RtpParams::default()
    };
    let s = pcap::write_tone(&p, 1004.0, -10.0, 1200, params).unwrap();
    assert_eq!(s.packets, 40);
    let r = uac_plays(scenarios::uac_pcmu_4733, &p, s);
    assert_eq!(r.audio_packets, 40);
    assert_eq!(r.audio_duration(), Duration::from_millis(1200));
    let t = r.tone(1004.0);
    assert!(t.heard(Duration::from_millis(1100), -10.0, 0.5), "{t:?}");
    assert_eq!(r.tone(1400.0).longest, Duration::ZERO);
}

#[test]
fn uas_answer_dtmf_plays_to_the_caller() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("uas").unwrap();
    let p = dir.join("digits.pcap");
    let mut b = StreamBuilder::new(RtpParams {
        event_pt: 96,
        ..RtpParams::default()
    })
    .unwrap();
    b.silence(100)
        .unwrap()
        .dtmf("*7", &DtmfOptions::default())
        .unwrap()
        .silence(100)
        .unwrap();
    let s = pcap::write_stream(&p, &b).unwrap();
    let capture = RtpCapture::start().unwrap();
    let callee = scenarios::uas_answer_dtmf(&p)
        .unwrap()
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    let caller =
        scenarios::peer_uac_call(callee.sip_addr(), s.duration + Duration::from_millis(400))
            .rtp_port(capture.port())
            .timeout(Duration::from_secs(15))
            .start()
            .unwrap();
    caller.wait().check().unwrap();
    callee.wait().check().unwrap();
    capture.wait_quiet(s.packets, Duration::from_millis(50), Duration::from_secs(2));
    let got = capture.stop();
    assert_eq!(got.len(), s.packets);
    let r = wire::analyze(
        &got,
        &WireConfig {
            event_pt: 96,
            ..WireConfig::default()
        },
    );
    assert_eq!(r.event_digits(), "*7");
}

#[test]
fn sniffing_sees_rtp_to_a_port_sipp_owns() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("sniff").unwrap();
    let (p, s) = dtmf_pcap(&dir, "3", DtmfCarriage::Rfc4733(EventStyle::Standard));
    // The callee's SDP announces its own media port, as SIPp does by default.
    let callee = scenarios::peer_uas_answer(&common::short_silence(&dir))
        .unwrap()
        .hangup_after(s.duration + Duration::from_millis(400))
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    let sniff = RtpCapture::sniff(callee.media_port()).unwrap();
    let caller = scenarios::uac_pcmu_4733(callee.sip_addr(), &p)
        .unwrap()
        .timeout(Duration::from_secs(15))
        .start()
        .unwrap();
    let caller = caller.wait().check().unwrap();
    callee.wait().check().unwrap();
    sniff.wait_quiet(s.packets, Duration::from_millis(50), Duration::from_secs(2));
    let got = sniff.stop();
    assert_eq!(got.len(), s.packets);
    assert!(got.iter().all(|d| d.from.port() == caller.media_port));
    let r = wire::analyze(&got, &WireConfig::default());
    assert_eq!(r.event_digits(), "3");
}
