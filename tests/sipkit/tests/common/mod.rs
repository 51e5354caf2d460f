//! Shared by the integration tests: skipping without the tools, small captures.

#![allow(dead_code)]

use std::path::PathBuf;
use tipring_sipkit::pcap;
use tipring_sipkit::stream::{RtpParams, StreamBuilder};
use tipring_sipkit::tempdir::TempDir;

/// False (and a note on stderr) when SIPp is not installed.
pub fn have_sipp() -> bool {
    let ok = tipring_sipkit::sipp::sipp_available();
    if !ok {
        eprintln!("skipped: sipp is not installed");
    }
    ok
}

/// False (and a note) when SIPp is missing or cannot play captures (no CAP_NET_RAW).
pub fn can_play() -> bool {
    if !have_sipp() {
        return false;
    }
    let ok = tipring_sipkit::sipp::can_play_pcap();
    if !ok {
        eprintln!("skipped: SIPp needs CAP_NET_RAW (root) to play captures");
    }
    ok
}

/// False (and a note) when baresip or one of its modules is missing.
pub fn have_baresip() -> bool {
    let ok = tipring_sipkit::baresip::baresip_available();
    if !ok {
        eprintln!("skipped: baresip (with g711, aufile, alsa, menu, ctrl_tcp) is not installed");
    }
    ok
}

/// 20 ms of silence from another SSRC, for peers that must play something.
pub fn short_silence(dir: &TempDir) -> PathBuf {
    let p = dir.join("silence.pcap");
    let mut b = StreamBuilder::new(RtpParams {
        ssrc: 0x0bad_cafe,
        ..RtpParams::default()
    })
    .unwrap();
    b.silence(20).unwrap();
    pcap::write_stream(&p, &b).unwrap();
    p
}
