//! SIP extensions against a real peer: reliable provisional responses (100rel and PRACK,
//! RFC 3262) both ways, and session timers (RFC 4028) with `tipringd` as refresher and
//! with a refresher that never refreshes. SIPp plays the peer through `tipring-sipkit`'s
//! runner (an unexpected message fails its call) and checks the headers itself
//! (`<ereg check_it="true">`); the tests check timing from SIPp's logged clock and the
//! call records from the API.
//!
//! None of these plays a capture, so they need SIPp but not `CAP_NET_RAW`. The session
//! timer tests wait for real timers at RFC 4028's minimum interval (90 s): the refresh test
//! about 47 s (its two callers at once), the expiry test about 62 s; the others take one or
//! two seconds. Every peer and the daemon run on loopback at free ports and stop by
//! themselves.

mod common;

use common::sip::{build_daemon, config, first_ended, free_port_pair, originate, sipp_present};

use common::proc::{Daemon, http};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tipring_sipkit::scenarios;
use tipring_sipkit::sipp::{Sipp, SippReport};

/// The IVR's prompts with a greeting of two minutes of silence: the IVR starts waiting
/// for digits (and would hang up 10 s later) only after it, so a call stays up as long as
/// a session timer test needs.
fn long_prompts() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let short = common::prompts();
        let dir =
            std::env::temp_dir().join(format!("tipring-e2e-long-prompts-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("digits")).expect("a prompts directory");
        for name in ["goodbye"]
            .into_iter()
            .map(String::from)
            .chain((0..10).map(|d| format!("digits/{d}")))
        {
            let f = format!("{name}.wav");
            std::fs::copy(short.join(&f), dir.join(&f)).expect("copy a prompt");
        }
        tipringd::wav::write(&dir.join("hello-world.wav"), &vec![0i16; 8000 * 120])
            .expect("write the long greeting");
        dir
    })
    .clone()
}

/// A trunk to `host` without keep-alives (an OPTIONS would be an unexpected message to a
/// SIPp UAS).
fn trunk(host: SocketAddr) -> String {
    format!("[[sip.trunk]]\nname = \"pbx\"\nhost = \"{host}\"\nkeepalive = 0\n")
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

/// SIPp's `[clock_tick]` (ms) on its `"<what> at N"` log line.
fn tick(report: &SippReport, what: &str) -> Option<u64> {
    report
        .log_values(&format!("{what} at "))
        .next()
        .and_then(|v| v.trim().parse().ok())
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
    /// SIPp's clock between its `"<from> at N"` and `"<to> at N"` log lines.
    fn between(&self, from: &str, to: &str) -> Duration {
        let at = |what: &str| {
            tick(&self.report, what)
                .unwrap_or_else(|| panic!("SIPp logged no \"{what} at\"\n{}", self.ctx))
        };
        Duration::from_millis(at(to).saturating_sub(at(from)))
    }

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

// ---- session timers ------------------------------------------------------------------------

/// A call asking the daemon to refresh a 90 s session (`refresher=uas`), from a caller
/// whose `Allow` lists UPDATE or not.
fn refreshed_call(allow_update: bool) -> Run {
    call_in(
        &long_prompts(),
        |remote| scenarios::uac_session_refresh(remote, allow_update),
        Duration::from_secs(75),
    )
}

/// Checks that `run` got one refresh of the kind `method` says, 45 s after the 200: half
/// the interval (RFC 4028 §10); and that the call then ended normally at the caller's BYE.
fn check_refresh(run: &Run, method: &str) {
    let ctx = &run.ctx;
    assert!(run.report.success(), "{ctx}");
    let how: Vec<&str> = run.report.log_values("refresh: ").collect();
    assert_eq!(how.len(), 1, "{ctx}");
    assert!(
        how[0].starts_with(method),
        "expected the refresh by {method}: {how:?}\n{ctx}"
    );
    let after = run.between("INVITE 200", "refresh");
    eprintln!(
        "{method} refresh {:.3} s after the 200",
        after.as_secs_f64()
    );
    assert!(
        after >= Duration::from_secs(44) && after <= Duration::from_secs(47),
        "the refresh came {after:?} after the 200; expected 45 s (half of 90)\n{ctx}"
    );
    let r = run.record();
    assert_eq!(r["direction"], "inbound", "{ctx}");
    assert_eq!(r["cause"], 16, "the caller hung up normally\n{ctx}");
}

/// RFC 4028 §9–10 with the daemon as UAS and refresher: a caller that supports timers
/// asks for 90 s with `refresher=uas`; the 200 agrees (`Session-Expires: 90;refresher=uas`,
/// `Require: timer`, checked by SIPp), and the daemon refreshes at half the interval with
/// `Session-Expires: 90;refresher=uac` (checked by SIPp). Two callers at once (the wait is
/// long): one whose `Allow` lists UPDATE gets an UPDATE; one whose `Allow` lacks it gets a
/// re-INVITE offering the SDP of the 200 again, unchanged down to its `o=` version
/// (RFC 3264 §8: an unchanged session keeps its version).
#[test]
fn the_daemon_refreshes_the_session_at_half_the_interval_by_update_or_reinvite() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let (update, reinvite) = std::thread::scope(|s| {
        let update = s.spawn(|| refreshed_call(true));
        let reinvite = s.spawn(|| refreshed_call(false));
        (
            update.join().expect("the UPDATE run"),
            reinvite.join().expect("the re-INVITE run"),
        )
    });
    check_refresh(&update, "UPDATE");
    check_refresh(&reinvite, "INVITE");
    let ctx = &reinvite.ctx;
    let answer: Vec<&str> = reinvite.report.log_values("200 o=").collect();
    let refresh: Vec<&str> = reinvite.report.log_values("re-INVITE o=").collect();
    assert_eq!(answer.len(), 1, "{ctx}");
    assert_eq!(refresh, answer, "the re-INVITE's SDP is the 200's\n{ctx}");
}

/// RFC 4028 §10 with the daemon as UAS, the caller as refresher: the caller asks for 90 s
/// with `refresher=uac`, the 200 agrees (checked by SIPp), and the caller never refreshes.
/// The daemon must end the session before it expires, by BYE, at the interval less
/// min(32, interval/3) s: 60 s after the 200 (here: between 55 and 90 s). The BYE's
/// `Reason` and the call's record give cause 102 (recovery on timer expiry).
#[test]
fn a_session_the_caller_does_not_refresh_ends_with_a_bye_before_it_expires() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = call_in(
        &long_prompts(),
        scenarios::uac_session_expiry,
        Duration::from_secs(105),
    );
    let ctx = &run.ctx;
    assert!(run.report.success(), "{ctx}");
    let after = run.between("INVITE 200", "BYE");
    eprintln!("BYE {:.3} s after the 200", after.as_secs_f64());
    assert!(
        after >= Duration::from_secs(55) && after <= Duration::from_secs(90),
        "the BYE came {after:?} after the 200; expected 60 s (90 less min(32, 30))\n{ctx}"
    );
    let reason: Vec<&str> = run
        .report
        .log_values("BYE Reason: ")
        .map(str::trim)
        .collect();
    assert_eq!(reason, ["Q.850;cause=102"], "{ctx}");
    let r = run.record();
    assert_eq!(r["direction"], "inbound", "{ctx}");
    assert_eq!(r["cause"], 102, "{ctx}");
}
