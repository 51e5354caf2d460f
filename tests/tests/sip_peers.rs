//! SIP trunks against real peers, signalling first: digest challenges on REGISTER (with a
//! refresh) and on INVITE (407 and 401) from a SIPp registrar or provider, and calls both
//! ways with baresip, a headless phone driven through `ctrl_tcp`.
//!
//! None of these plays a capture, so they need SIPp or baresip but not `CAP_NET_RAW`.
//! Every peer and the daemon run on loopback at free ports and stop by themselves.

mod common;

use common::sip::{build_daemon, calls, first_ended, free_port_pair, originate, sipp_present};

use common::proc::{Daemon, http};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tipring_sipkit::baresip::{self, Baresip, BaresipConfig};
use tipring_sipkit::digest::{self, DigestCredentials};
use tipring_sipkit::scenarios;
use tipring_sipkit::sipp::{Sipp, SippProcess, SippReport};

/// The trunk's digest credentials.
const USER: &str = "tipring";
const PASSWORD: &str = "s3cret-Pa55";

/// The daemon's configuration: SIP on loopback at `sip_port`, the C IVR on every SIP
/// call, and `trunk` (a `[[sip.trunk]]` table, or nothing).
fn config_at(sip_port: u16, trunk: &str) -> String {
    common::sip::config(sip_port, &common::prompts(), trunk)
}

/// As [`config_at`] on a free port.
fn config(trunk: &str) -> String {
    config_at(free_port_pair(), trunk)
}

/// A trunk to `host` with the test's credentials.
fn trunk(host: SocketAddr, password: &str, extra: &str) -> String {
    format!(
        "[[sip.trunk]]\nname = \"pbx\"\nhost = \"{host}\"\nusername = \"{USER}\"\n\
         password = \"{password}\"\n{extra}"
    )
}

fn call(api: &str, id: u64) -> Value {
    let (code, body) = http(api, "GET", &format!("/v1/calls/{id}"), "");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls call `id` until its state is one of `states`, at most `within`; the record, or
/// `Err(last record)`.
fn wait_state(api: &str, id: u64, states: &[&str], within: Duration) -> Result<Value, Value> {
    let deadline = Instant::now() + within;
    loop {
        let c = call(api, id);
        if states.iter().any(|s| c["state"] == *s) {
            return Ok(c);
        }
        if Instant::now() >= deadline {
            return Err(c);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn digit_events(record: &Value) -> usize {
    record["events"].as_array().map_or(0, |es| {
        es.iter()
            .filter_map(|e| e["event"].as_str())
            .filter(|e| e.starts_with("digit "))
            .count()
    })
}

// ---- REGISTER ---------------------------------------------------------------------------

/// What a registration run saw.
struct RegisterRun {
    /// SIPp's report.
    report: SippReport,
    /// The daemon's log lines, each with when it arrived after the daemon started.
    log: Vec<(Duration, String)>,
}

impl RegisterRun {
    /// When the daemon logged "SIP registered for N s" lines, with N.
    fn registered(&self) -> Vec<(Duration, u32)> {
        self.log
            .iter()
            .filter_map(|(at, l)| {
                let rest = &l[l.find("SIP registered for ")? + "SIP registered for ".len()..];
                Some((*at, rest.split_whitespace().next()?.parse().ok()?))
            })
            .collect()
    }

    /// The Authorization values SIPp logged, one per REGISTER after the first (empty: the
    /// REGISTER had none).
    fn authorizations(&self) -> Vec<&str> {
        self.report
            .log_values("REGISTER Authorization: ")
            .map(str::trim)
            .collect()
    }

    fn context(&self) -> String {
        let log: Vec<String> = self
            .log
            .iter()
            .map(|(at, l)| format!("{:>6.3} {l}", at.as_secs_f64()))
            .collect();
        format!(
            "SIPp: {}\n--- the daemon's log ---\n{}",
            self.report.summary(),
            log.join("\n")
        )
    }
}

/// The SIPp registrar: a 401 challenge, 10 s granted, one refresh expected within 5.5 s
/// of the 200.
fn registrar() -> Sipp {
    scenarios::uas_registrar_auth(USER, PASSWORD, 1)
}

/// `registrar` and a daemon whose trunk registers there with `password`, asking for 30 s.
fn register_run(registrar: Sipp, password: &str) -> RegisterRun {
    build_daemon();
    let registrar = registrar
        .timeout(Duration::from_secs(14))
        .trace_messages(true)
        .start()
        .expect("start the SIPp registrar");
    let cfg = config(&trunk(
        registrar.sip_addr(),
        password,
        "register = true\nexpires = 30\n",
    ));
    let started = Instant::now();
    let d = Daemon::start(&cfg, &[]);
    let mut log = Vec::new();
    let mut registrar = registrar;
    // SIPp ends its one "call" after the refresh (or fails it); it stops itself at its
    // -timeout at the latest.
    let deadline = Instant::now() + Duration::from_secs(20);
    while registrar.is_running() && Instant::now() < deadline {
        if let Ok(l) = d.log.recv_timeout(Duration::from_millis(20)) {
            log.push((started.elapsed(), l));
        }
    }
    let report = registrar.wait();
    while let Ok(l) = d.log.recv_timeout(Duration::from_millis(200)) {
        log.push((started.elapsed(), l));
    }
    RegisterRun { report, log }
}

/// Digest challenge on REGISTER, then a refresh: the trunk registers, answers the 401 with
/// valid credentials (SIPp's verifyauth, and checked again here), honours the 10 s the
/// registrar grants rather than the 30 s it asked for, and refreshes at half of it with
/// credentials SIPp accepts. The daemon logs each registration.
#[test]
fn register_answers_the_challenge_and_refreshes_at_half_the_grant() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = register_run(registrar(), PASSWORD);
    let ctx = run.context();
    assert!(run.report.success(), "the registrar failed:\n{ctx}");
    // Every credential the daemon sent is good for the password (SIPp checked already;
    // this checks SIPp's check).
    let auths = run.authorizations();
    let sent: Vec<&str> = auths.iter().copied().filter(|a| !a.is_empty()).collect();
    assert!(
        sent.len() >= 2,
        "expected credentials on the first REGISTER and on the refresh: {auths:?}\n{ctx}"
    );
    for a in &sent {
        let c = DigestCredentials::parse(a).expect("parsable credentials");
        assert_eq!(c.username, USER, "{a}");
        assert_eq!(c.realm, scenarios::REALM, "{a}");
        assert!(
            digest::verify(a, "REGISTER", PASSWORD).unwrap(),
            "credentials not computed with the password: {a}\n{ctx}"
        );
    }
    // The daemon saw both registrations, with the registrar's grant.
    let reg = run.registered();
    assert!(reg.len() >= 2, "registered: {reg:?}\n{ctx}");
    assert!(
        reg.iter().all(|&(_, s)| s == 10),
        "the registrar granted 10 s: {reg:?}\n{ctx}"
    );
    // The refresh came at half the grant (5 s), not early and not late.
    let gap = reg[1].0 - reg[0].0;
    assert!(
        gap >= Duration::from_millis(4500) && gap <= Duration::from_millis(5400),
        "refresh {gap:?} after the registration; expected 5 s (50 % of 10 s)\n{ctx}"
    );
    assert!(
        !run.log
            .iter()
            .any(|(_, l)| l.contains("registration failed")),
        "{ctx}"
    );
}

/// RFC 7616 §3.4 (and RFC 2617 §3.2.2): `nc` counts the requests sent with a nonce, so a
/// refresh that re-uses the nonce must carry a higher `nc` (and with it a new response);
/// the very same credentials again are a replay, which registrars that track nonce counts
/// (Kamailio's `nonce_count`, OpenSIPS) refuse. A client may also send the refresh without
/// credentials and answer a fresh challenge. Either way, no (nonce, nc) pair twice.
#[test]
fn register_refresh_does_not_replay_the_credentials() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = register_run(registrar(), PASSWORD);
    let ctx = run.context();
    assert!(run.report.success(), "the registrar failed:\n{ctx}");
    let creds: Vec<DigestCredentials> = run
        .authorizations()
        .into_iter()
        .filter(|a| !a.is_empty())
        .map(|a| DigestCredentials::parse(a).expect("parsable credentials"))
        .collect();
    assert!(creds.len() >= 2, "{ctx}");
    for (i, a) in creds.iter().enumerate() {
        for b in &creds[i + 1..] {
            assert!(
                !(a.nonce == b.nonce && a.nc == b.nc),
                "REGISTER credentials sent twice with nonce {:?} and nc {:?} (a replay; \
                 the refresh must increment nc or answer a new challenge):\n{ctx}",
                a.nonce,
                a.nc
            );
        }
    }
}

/// A registrar that challenges the refresh again (a new nonce, stale=TRUE: the old one
/// has expired) gets credentials for the new nonce, and the registration goes on.
#[test]
fn register_refresh_answers_a_new_challenge() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = register_run(registrar().rechallenge_refreshes(true), PASSWORD);
    let ctx = run.context();
    assert!(run.report.success(), "the registrar failed:\n{ctx}");
    // The first REGISTER's credentials, the refresh (challenged whatever it carried), the
    // answer to the new challenge.
    let auths = run.authorizations();
    assert_eq!(auths.len(), 3, "{auths:?}\n{ctx}");
    let first = DigestCredentials::parse(auths[0]).expect("parsable credentials");
    let last = DigestCredentials::parse(auths[2]).expect("parsable credentials");
    assert_ne!(first.nonce, last.nonce, "the new nonce is used\n{ctx}");
    assert_eq!(last.nc.as_deref(), Some("00000001"), "{ctx}");
    for a in [auths[0], auths[2]] {
        assert!(
            digest::verify(a, "REGISTER", PASSWORD).unwrap(),
            "credentials not computed with the password: {a}\n{ctx}"
        );
    }
    let reg = run.registered();
    assert_eq!(reg.len(), 2, "registered: {reg:?}\n{ctx}");
    assert!(
        !run.log
            .iter()
            .any(|(_, l)| l.contains("registration failed")),
        "{ctx}"
    );
}

/// With the wrong password the registrar refuses the credentials (403), and the daemon
/// reports the registration failed instead of registered.
#[test]
fn register_with_a_wrong_password_fails() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    build_daemon();
    let registrar = scenarios::uas_registrar_auth(USER, PASSWORD, 0)
        .timeout(Duration::from_secs(8))
        .start()
        .expect("start the SIPp registrar");
    let cfg = config(&trunk(
        registrar.sip_addr(),
        "not-the-password",
        "register = true\nexpires = 30\n",
    ));
    let d = Daemon::start(&cfg, &[]);
    let report = registrar.wait();
    let mut log = Vec::new();
    while let Ok(l) = d.log.recv_timeout(Duration::from_millis(300)) {
        log.push(l);
    }
    let ctx = format!(
        "SIPp: {}\n--- daemon ---\n{}",
        report.summary(),
        log.join("\n")
    );
    assert!(!report.success(), "SIPp accepted a wrong password:\n{ctx}");
    assert!(report.log.contains("bad credentials"), "{ctx}");
    assert!(
        log.iter()
            .any(|l| l.contains("SIP registration failed: 403")),
        "{ctx}"
    );
    assert!(!log.iter().any(|l| l.contains("SIP registered")), "{ctx}");
}

// ---- INVITE -----------------------------------------------------------------------------

/// What an authenticated outbound call saw.
struct InviteRun {
    report: SippReport,
    record: Value,
}

/// Starts `uas`, a daemon with a trunk to it using `password`, originates a call to 2000
/// and, once it is up, hangs it up through the API (the IVR would wait 10 s for digits).
/// The SIPp report and the call's final record.
fn invite_run(uas: Sipp, password: &str) -> InviteRun {
    build_daemon();
    let uas: SippProcess = uas
        .timeout(Duration::from_secs(12))
        .trace_messages(true)
        .start()
        .expect("start the SIPp UAS");
    let d = Daemon::start(&config(&trunk(uas.sip_addr(), password, "")), &[]);
    let id = originate(&d.api, "2000");
    match wait_state(&d.api, id, &["up", "ended"], Duration::from_secs(8)) {
        Ok(c) if c["state"] == "up" => {
            // Some media, then a clean hang-up from this side.
            std::thread::sleep(Duration::from_millis(300));
            let (code, body) = http(&d.api, "DELETE", &format!("/v1/calls/{id}"), "");
            assert_eq!(code, 200, "{body}");
        }
        Ok(_) => {}
        Err(c) => {
            let report = uas.stop(Duration::from_secs(2));
            panic!(
                "the call neither came up nor ended in 8 s: {c}\nSIPp: {}",
                report.summary()
            );
        }
    }
    let report = uas.wait();
    let record = wait_state(&d.api, id, &["ended"], Duration::from_secs(5))
        .unwrap_or_else(|c| panic!("the call did not end: {c}\nSIPp: {}", report.summary()));
    InviteRun { report, record }
}

/// Checks the one credentials value SIPp logged after `prefix`: the test's user and
/// realm, the authenticated INVITE's Request-URI as digest uri, and a response computed
/// with the password.
fn check_invite_credentials(report: &SippReport, prefix: &str) {
    let ctx = report.summary();
    let values: Vec<&str> = report.log_values(prefix).map(str::trim).collect();
    assert_eq!(
        values.len(),
        1,
        "one authenticated INVITE: {values:?}\n{ctx}"
    );
    let v = values[0];
    let c = DigestCredentials::parse(v).expect("parsable credentials");
    assert_eq!(c.username, USER, "{v}");
    assert_eq!(c.realm, scenarios::REALM, "{v}");
    let ruri: Vec<&str> = report
        .log_values("INVITE Request-URI: ")
        .map(str::trim)
        .collect();
    assert_eq!(
        ruri,
        [c.uri.as_str()],
        "the digest uri is the Request-URI\n{ctx}"
    );
    assert!(
        digest::verify(v, "INVITE", PASSWORD).unwrap(),
        "the response was not computed with the password: {v}\n{ctx}"
    );
    assert!(
        !digest::verify(v, "INVITE", "wrong").unwrap(),
        "the check cannot tell passwords apart"
    );
}

/// Digest challenge on INVITE with 407: the call out is challenged, sent again with
/// Proxy-Authorization (checked here against the password: SIPp cannot), answered, hung
/// up cleanly (SIPp sees BYE and answers it); the record says `answered`.
#[test]
fn invite_answers_a_407_challenge() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = invite_run(scenarios::uas_invite_auth(USER), PASSWORD);
    assert!(
        run.report.success(),
        "SIPp UAS failed: {}\nrecord: {}",
        run.report.summary(),
        run.record
    );
    check_invite_credentials(&run.report, "INVITE Proxy-Authorization: ");
    assert_eq!(run.record["direction"], "outbound", "{}", run.record);
    assert_eq!(run.record["outcome"], "answered", "{}", run.record);
    assert_eq!(run.record["cause"], 16, "{}", run.record);
}

/// As [`invite_answers_a_407_challenge`] with 401 and Authorization (which SIPp verifies
/// too).
#[test]
fn invite_answers_a_401_challenge() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = invite_run(scenarios::uas_invite_auth_401(USER, PASSWORD), PASSWORD);
    assert!(
        run.report.success(),
        "SIPp UAS failed: {}\nrecord: {}",
        run.report.summary(),
        run.record
    );
    check_invite_credentials(&run.report, "INVITE Authorization: ");
    assert_eq!(run.record["outcome"], "answered", "{}", run.record);
    assert_eq!(run.record["cause"], 16, "{}", run.record);
}

/// With the wrong password the provider refuses the second INVITE (403): the call is not
/// answered, and the daemon does not try a third time.
#[test]
fn invite_with_a_wrong_password_is_refused() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
        return;
    }
    let run = invite_run(
        scenarios::uas_invite_auth_401(USER, PASSWORD),
        "not-the-password",
    );
    let ctx = format!("SIPp: {}\nrecord: {}", run.report.summary(), run.record);
    assert!(
        !run.report.success(),
        "SIPp accepted a wrong password\n{ctx}"
    );
    assert!(run.report.log.contains("bad credentials"), "{ctx}");
    assert_eq!(
        run.report.log_values("INVITE Authorization: ").count(),
        1,
        "{ctx}"
    );
    assert_ne!(run.record["outcome"], "answered", "{ctx}");
    assert!(run.record["answered_ms"].is_null(), "{ctx}");
}

// ---- baresip ----------------------------------------------------------------------------

const T: Duration = Duration::from_secs(5);

/// baresip calls the daemon, which answers with the IVR; baresip keys 1234 (RFC 4733, as
/// negotiated), the IVR collects them, reads them back and hangs up.
#[test]
fn baresip_calls_in_and_keys_digits_to_the_ivr() {
    if !baresip::baresip_available() {
        eprintln!("skipped: baresip is not installed (scripts/deps --test installs it)");
        return;
    }
    let sip_port = free_port_pair();
    let d = Daemon::start(&config_at(sip_port, ""), &[]);
    let target = SocketAddr::from(([127, 0, 0, 1], sip_port));
    let mut phone = Baresip::start(BaresipConfig::default()).expect("start baresip");
    phone
        .dial(&format!("sip:1000@{target}"))
        .expect("baresip dials");
    let up = phone.wait_for("CALL_ESTABLISHED", T);
    assert!(
        up.is_ok(),
        "{up:?}\ncalls: {:?}\nbaresip: {}",
        calls(&d.api),
        phone.log()
    );
    // Let the media start on both sides before the first digit.
    std::thread::sleep(Duration::from_millis(500));
    phone.send_dtmf("1234").expect("baresip sends the digits");
    // Four digits read back (0.4 s each) and goodbye: the IVR hangs up.
    let closed = phone.wait_for("CALL_CLOSED", Duration::from_secs(10));
    let record = first_ended(&d.api, Duration::from_secs(5));
    assert!(closed.is_ok(), "{closed:?}\ncalls: {:?}", calls(&d.api));
    let r = record.expect("an ended call");
    assert_eq!(r["direction"], "inbound", "{r}");
    assert_eq!(r["caller"], "alice", "{r}");
    assert_eq!(r["called"], "1000", "{r}");
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    assert_eq!(digit_events(&r), 4, "each key press once: {r}");
    assert_eq!(r["cause"], 16, "the IVR hung up normally: {r}");
    // The digits came as RFC 4733 events, and audio flowed both ways (3 s of it).
    let rtp = &r["rtp"];
    assert_eq!(rtp["codec"], "PCMU", "{r}");
    assert_eq!(rtp["digits_received"], 4, "{r}");
    assert!(rtp["packets_received"].as_u64() > Some(50), "{r}");
    assert!(rtp["packets_sent"].as_u64() > Some(50), "{r}");
    let _ = phone.quit();
}

/// The daemon calls baresip through a trunk; baresip answers by itself and hangs up a
/// second later; the record says `answered`. The API dials digits only, and baresip
/// answers only for its own user, so the phone's user is a number.
#[test]
fn daemon_calls_baresip_which_answers() {
    if !baresip::baresip_available() {
        eprintln!("skipped: baresip is not installed (scripts/deps --test installs it)");
        return;
    }
    build_daemon();
    let mut phone = Baresip::start(BaresipConfig {
        user: "2000".into(),
        ..BaresipConfig::default()
    })
    .expect("start baresip");
    let cfg = config(&format!(
        "[[sip.trunk]]\nname = \"phone\"\nhost = \"{}\"\n",
        phone.sip_addr()
    ));
    let d = Daemon::start(&cfg, &[]);
    let id = originate(&d.api, "2000");
    let up = phone.wait_for("CALL_ESTABLISHED", T);
    assert!(
        up.is_ok(),
        "{up:?}\ncall: {}\nbaresip: {}",
        call(&d.api, id),
        phone.log()
    );
    let c = wait_state(&d.api, id, &["up"], T).unwrap_or_else(|c| panic!("not up: {c}"));
    assert_eq!(c["outcome"], "answered", "{c}");
    std::thread::sleep(Duration::from_millis(1000));
    phone.hangup().expect("baresip hangs up");
    phone
        .wait_for("CALL_CLOSED", T)
        .expect("baresip's call closes");
    let r = wait_state(&d.api, id, &["ended"], T).unwrap_or_else(|c| panic!("not ended: {c}"));
    assert_eq!(r["direction"], "outbound", "{r}");
    assert_eq!(r["called"], "2000", "{r}");
    assert_eq!(r["outcome"], "answered", "{r}");
    assert_eq!(r["cause"], 16, "baresip hung up normally: {r}");
    // A second of audio each way.
    let rtp = &r["rtp"];
    assert_eq!(rtp["codec"], "PCMU", "{r}");
    assert!(rtp["packets_received"].as_u64() > Some(20), "{r}");
    assert!(rtp["packets_sent"].as_u64() > Some(20), "{r}");
    let _ = phone.quit();
}
