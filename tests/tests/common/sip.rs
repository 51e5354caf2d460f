//! What the SIP tests against the `tipringd` process share: ports, the API's call records,
//! and calls out.

use super::proc::http;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The first SIP channel: 1 phone and 1 trunk on the sim board come first.
pub const SIP_CHANNEL: u32 = 3;

/// A free UDP port on loopback (and the one above it, for RTP+RTCP pairs).
pub fn free_port_pair() -> u16 {
    tipring_sipkit::ports::free_udp_port_pair([127, 0, 0, 1].into()).expect("a free port pair")
}

/// SIPp is installed (the scenarios that play no capture need nothing more).
pub fn sipp_present() -> bool {
    tipring_sipkit::sipp::sipp_available()
}

/// The daemon's configuration: SIP on loopback at `sip_port`, the C IVR with `prompts` on
/// every SIP call, and `trunk` (a `[[sip.trunk]]` table, or nothing).
pub fn config(sip_port: u16, prompts: &std::path::Path, trunk: &str) -> String {
    let rtp_port = super::rtp_base(4);
    format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\n\n\
         [board]\nphones = 1\ntrunks = 1\n\n\
         [sip]\nlisten = \"127.0.0.1:{sip_port}\"\nchannels = 4\nrtp_port = {rtp_port}\n\n\
         [[route]]\nkind = \"sip\"\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n\n\
         {trunk}",
        prompts.display()
    )
}

/// Every call the daemon's API lists.
pub fn calls(api: &str) -> Vec<Value> {
    let (code, body) = http(api, "GET", "/v1/calls", "");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for the first ended call (for calls placed by a peer, whose id the test does not
/// know).
pub fn first_ended(api: &str, within: Duration) -> Option<Value> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(c) = calls(api).into_iter().find(|c| c["state"] == "ended") {
            return Some(c);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Builds `tipringd` (if needed) before a peer starts its clock: a peer that waits for the
/// daemon must not time out while cargo builds it.
pub fn build_daemon() {
    super::proc::tipringd();
}

/// `POST /v1/calls` on the first SIP channel to `to` with the IVR (and its prompts); the
/// call's id.
pub fn originate(api: &str, to: &str) -> u64 {
    let body = serde_json::json!({
        "channel": SIP_CHANNEL,
        "to": to,
        "handler": "ivr-c",
        "params": { "prompts": super::prompts() },
    });
    let (code, body) = http(api, "POST", "/v1/calls", &body.to_string());
    assert_eq!(code, 201, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_u64()
        .expect("the new call's id")
}
