//! SIP extensions against a real peer: reliable provisional responses (100rel and PRACK,
//! RFC 3262) both ways. SIPp plays the peer through `tipring-sipkit`'s runner (an
//! unexpected message fails its call) and checks the headers itself
//! (`<ereg check_it="true">`); the tests check the call records from the API.
//!
//! None of these plays a capture, so they need SIPp but not `CAP_NET_RAW`; each takes one
//! or two seconds. Every peer and the daemon run on loopback at free ports and stop by
//! themselves.

mod common;

use common::proc::{Daemon, http};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tipring_sipkit::scenarios;
use tipring_sipkit::sipp::{Sipp, SippReport};

/// The first SIP channel: 1 phone and 1 trunk on the sim board come first.
const SIP_CHANNEL: u32 = 3;

fn free_port_pair() -> u16 {
    tipring_sipkit::ports::free_udp_port_pair([127, 0, 0, 1].into()).expect("a free port pair")
}

fn sipp_present() -> bool {
    tipring_sipkit::sipp::sipp_available()
}

/// The daemon's configuration: SIP on loopback at `sip_port`, the C IVR with `prompts` on
/// every SIP call, and `trunk` (a `[[sip.trunk]]` table, or nothing).
fn config(sip_port: u16, prompts: &std::path::Path, trunk: &str) -> String {
    let rtp_port = common::rtp_base(4);
    format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\n\n\
         [board]\nphones = 1\ntrunks = 1\n\n\
         [sip]\nlisten = \"127.0.0.1:{sip_port}\"\nchannels = 4\nrtp_port = {rtp_port}\n\n\
         [[route]]\nkind = \"sip\"\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n\n\
         {trunk}",
        prompts.display()
    )
}

fn calls(api: &str) -> Vec<Value> {
    let (code, body) = http(api, "GET", "/v1/calls", "");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits (at most `within`) for the daemon's first ended call.
fn first_ended(api: &str, within: Duration) -> Option<Value> {
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
fn build_daemon() {
    common::proc::tipringd();
}

/// A trunk to `host` without keep-alives (an OPTIONS would be an unexpected message to a
/// SIPp UAS).
fn trunk(host: SocketAddr) -> String {
    format!("[[sip.trunk]]\nname = \"pbx\"\nhost = \"{host}\"\nkeepalive = 0\n")
}

/// `POST /v1/calls` on the first SIP channel to `to` with the IVR; the call's id.
fn originate(api: &str, to: &str) -> u64 {
    let body = serde_json::json!({
        "channel": SIP_CHANNEL,
        "to": to,
        "handler": "ivr-c",
        "params": { "prompts": common::prompts() },
    });
    let (code, body) = http(api, "POST", "/v1/calls", &body.to_string());
    assert_eq!(code, 201, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_u64()
        .expect("the new call's id")
}

/// Polls call `id` until it has ended, at most `within`; the record, or `Err(last record)`.
fn wait_ended(api: &str, id: u64, within: Duration) -> Result<Value, Value> {
    let deadline = Instant::now() + within;
    loop {
        let (code, body) = http(api, "GET", &format!("/v1/calls/{id}"), "");
        assert_eq!(code, 200, "{body}");
        let c: Value = serde_json::from_str(&body).unwrap();
        if c["state"] == "ended" {
            return Ok(c);
        }
        if Instant::now() >= deadline {
            return Err(c);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon's log so far (for failure messages).
fn drain_log(d: &Daemon) -> String {
    let mut out = Vec::new();
    while let Ok(l) = d.log.recv_timeout(Duration::from_millis(50)) {
        out.push(l);
    }
    out.join("\n")
}

/// What a call into the daemon saw.
struct Run {
    /// SIPp's report.
    report: SippReport,
    /// The call's record once it ended (none if it did not within 5 s of SIPp's end).
    record: Option<Value>,
    /// SIPp's summary, the record and the daemon's log, for failure messages.
    ctx: String,
}

impl Run {
    /// The ended call's record.
    fn record(&self) -> &Value {
        self.record
            .as_ref()
            .unwrap_or_else(|| panic!("no ended call\n{}", self.ctx))
    }
}

/// Starts a daemon whose IVR plays `prompts`, runs the SIPp caller `caller` builds for
/// its address (stopping itself after `timeout`), and collects the outcome.
fn call_in(
    prompts: &std::path::Path,
    caller: impl FnOnce(SocketAddr) -> Sipp,
    timeout: Duration,
) -> Run {
    let sip_port = free_port_pair();
    let d = Daemon::start(&config(sip_port, prompts, ""), &[]);
    let remote = SocketAddr::from(([127, 0, 0, 1], sip_port));
    let report = caller(remote)
        .timeout(timeout)
        .trace_messages(true)
        .run()
        .expect("run SIPp");
    let record = first_ended(&d.api, Duration::from_secs(5));
    let ctx = format!(
        "SIPp: {}\nrecord: {record:?}\n--- daemon ---\n{}",
        report.summary(),
        drain_log(&d)
    );
    Run {
        report,
        record,
        ctx,
    }
}

// ---- 100rel: a caller that requires it ----------------------------------------------------

/// RFC 3262 §3 with the daemon as UAS: an INVITE with `Require: 100rel` gets its 180
/// reliably (`Require: 100rel` and an `RSeq` below 2^31, both checked by SIPp); the IVR
/// answers at once, so the 200 follows the 180 and the caller's PRACK arrives after it, as
/// it would from any caller. The 180 carried no SDP, so the 200 may go before its PRACK,
/// but the 180 stays unacknowledged, and the PRACK that names it (`RAck: <RSeq> 1 INVITE`)
/// must be answered 200, not 481. The call then runs until the caller's BYE.
#[test]
fn a_caller_requiring_100rel_gets_a_reliable_180_and_its_prack_answered() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = call_in(
        &common::prompts(),
        |remote| scenarios::uac_100rel(remote, Duration::from_millis(1000)),
        Duration::from_secs(15),
    );
    let ctx = &run.ctx;
    assert!(run.report.success(), "{ctx}");
    let rseq: Vec<u32> = run
        .report
        .log_values("180 RSeq: ")
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    assert_eq!(rseq.len(), 1, "one reliable 180: {rseq:?}\n{ctx}");
    assert!(rseq[0] < 1 << 31, "RFC 3262 §7.1: RSeq below 2^31\n{ctx}");
    let r = run.record();
    assert_eq!(r["direction"], "inbound", "{ctx}");
    assert!(r["answered_ms"].is_u64(), "{ctx}");
    assert_eq!(r["cause"], 16, "the caller hung up normally\n{ctx}");
}

// ---- 100rel: a far end that sends a reliable 183 -------------------------------------------

/// RFC 3262 §4 with the daemon as UAC: its INVITE says `Supported: 100rel`; the far end
/// sends 183 with SDP, `Require: 100rel` and `RSeq: 1`; the daemon acknowledges it with a
/// PRACK whose `RAck` is `1 <its INVITE's CSeq> INVITE` (SIPp compares it with the CSeq it
/// received, a random number, and fails on any other), which SIPp answers before answering
/// the INVITE. The call comes up, and ends normally at SIPp's BYE.
#[test]
fn a_reliable_183_to_a_call_out_is_pracked_with_the_right_rack() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    build_daemon();
    let uas = scenarios::uas_183_100rel(Duration::from_millis(1000))
        .timeout(Duration::from_secs(15))
        .trace_messages(true)
        .start()
        .expect("start the SIPp UAS");
    let sip_port = free_port_pair();
    let d = Daemon::start(
        &config(sip_port, &common::prompts(), &trunk(uas.sip_addr())),
        &[],
    );
    let id = originate(&d.api, "2000");
    let report = uas.wait();
    let record = wait_ended(&d.api, id, Duration::from_secs(5));
    let ctx = format!(
        "SIPp: {}\nrecord: {record:?}\n--- daemon ---\n{}",
        report.summary(),
        drain_log(&d)
    );
    assert!(report.success(), "{ctx}");
    let cseq: Vec<&str> = report.log_values("INVITE CSeq: ").map(str::trim).collect();
    let rack: Vec<&str> = report
        .log_values("PRACK RAck: ")
        .filter_map(|v| v.split(" (").next())
        .collect();
    assert_eq!(cseq.len(), 1, "{ctx}");
    assert_eq!(
        rack,
        [format!("1 {} INVITE", cseq[0])],
        "one PRACK, naming the 183 and the INVITE\n{ctx}"
    );
    let r = record.unwrap_or_else(|c| panic!("the call did not end: {c}\n{ctx}"));
    assert_eq!(r["direction"], "outbound", "{ctx}");
    assert_eq!(r["outcome"], "answered", "{ctx}");
    assert_eq!(r["cause"], 16, "SIPp hung up normally\n{ctx}");
}
