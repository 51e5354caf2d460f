//! SIP trunks against a real peer: SIPp calls the `tipringd` process on loopback and sends
//! its digits as RFC 4733 events, as in-band tones, or both at once; the C IVR handler
//! collects them; and `tipringd` calls out to a SIPp UAS. SIPp runs through
//! `tipring-sipkit`'s runner (unexpected messages fail the call) and plays its captures.

mod common;

use common::sip::{calls, free_port_pair};

use common::proc::{Daemon, http};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tipring_sipkit::pcap;
use tipring_sipkit::scenarios;
use tipring_sipkit::sipp::SippReport;
use tipring_sipkit::stream::{DtmfCarriage, DtmfOptions, EventStyle, RtpParams};
use tipring_sipkit::tempdir::TempDir;

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

/// Waits for the daemon's first ended call.
fn ended_call(api: &str, sipp: &SippReport) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cs = calls(api);
        if let Some(c) = cs.iter().find(|c| c["state"] == "ended") {
            return c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no ended call; calls: {cs:?}; SIPp: {}",
            sipp.summary()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One SIPp call carrying 1234 the way `carriage` says, offering telephone-event unless
/// `inband_offer`; returns the call's record.
fn call_with_digits(carriage: DtmfCarriage, inband_offer: bool) -> Value {
    let dir = TempDir::new("tipring-sip").expect("a temp dir");
    let cap = dir.path().join("digits.pcap");
    let opts = DtmfOptions {
        carriage,
        ..DtmfOptions::default()
    };
    pcap::write_dtmf(&cap, "1234", &opts, RtpParams::default()).expect("write the capture");
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let d = Daemon::start(&config(sip_port, rtp_port), &[]);
    let remote: SocketAddr = ([127, 0, 0, 1], sip_port).into();
    let sipp = if inband_offer {
        scenarios::uac_inband(remote, &cap)
    } else {
        scenarios::uac_pcmu_4733(remote, &cap)
    }
    .expect("the scenario")
    .caller("5551234")
    .timeout(Duration::from_secs(30))
    .run()
    .expect("run SIPp");
    let record = ended_call(&d.api, &sipp);
    assert!(
        sipp.success(),
        "SIPp failed: {}\nrecord: {record}",
        sipp.summary()
    );
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
    common::steal::retry_if_stolen(|| {
        if !sipp_present() {
            eprintln!("skipped: sipp is not installed (scripts/deps --test installs it)");
            return;
        }
        let r = call_with_digits(DtmfCarriage::Rfc4733(EventStyle::Standard), false);
        assert_eq!(r["caller"], "5551234");
        assert_eq!(r["called"], "1000");
        assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
        assert_eq!(digit_events(&r).len(), 4, "each key press once: {r}");
    })
}

/// Cisco-style timing (start packet three times, updates every 50 ms) still gives each
/// digit once.
#[test]
fn sipp_cisco_style_events_count_once() {
    common::steal::retry_if_stolen(|| {
        if !sipp_present() {
            eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
            return;
        }
        let r = call_with_digits(DtmfCarriage::Rfc4733(EventStyle::Cisco), false);
        assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
        assert_eq!(digit_events(&r).len(), 4, "{r}");
    })
}

/// SIPp offers no telephone-event and sends the digits as tones in the audio: the media
/// engine's in-band detector finds them.
#[test]
fn sipp_inband_digits_reach_the_ivr() {
    common::steal::retry_if_stolen(|| {
        if !sipp_present() {
            eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
            return;
        }
        let r = call_with_digits(DtmfCarriage::InBand, true);
        assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    })
}

/// SIPp sends each digit both ways at once, as RFC 4733 events and as tones in the audio
/// (`DtmfCarriage::Both`, which many phones do): each key press must reach the IVR once,
/// so the in-band copy has to be ignored while events are flowing.
#[test]
fn sipp_digits_sent_both_ways_count_once() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let r = call_with_digits(DtmfCarriage::Both(EventStyle::Standard), false);
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    assert_eq!(digit_events(&r).len(), 4, "each key press once: {r}");
}

/// As [`sipp_digits_sent_both_ways_count_once`] with the events' end packets lost: each
/// event ends by its timeout while its in-band copy is still sounding or just over, the
/// moment a receiver is most tempted to count the tone as a second key press.
#[test]
fn sipp_digits_both_ways_without_end_packets_count_once() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let r = call_with_digits(DtmfCarriage::Both(EventStyle::NoEnd), false);
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    assert_eq!(digit_events(&r).len(), 4, "each key press once: {r}");
}

/// RFC 4733 events whose end packets are all lost (no E bit ever arrives): each digit
/// still reaches the IVR once.
#[test]
fn sipp_events_without_end_packets_count_once() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let r = call_with_digits(DtmfCarriage::Rfc4733(EventStyle::NoEnd), false);
    assert_eq!(r["digits"], serde_json::json!(["1234"]), "{r}");
    assert_eq!(digit_events(&r).len(), 4, "each key press once: {r}");
}

/// Tipring calls out through a trunk to a SIPp UAS that answers and keys 1234 as RFC 4733
/// events; the handler on the outbound call collects them and hangs up (SIPp checks the BYE).
#[test]
fn outbound_call_to_sipp_collects_its_digits() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let dir = TempDir::new("tipring-sip-out").expect("a temp dir");
    let cap = dir.path().join("digits.pcap");
    pcap::write_dtmf(&cap, "1234", &DtmfOptions::default(), RtpParams::default()).unwrap();
    let uas = scenarios::uas_answer_dtmf(&cap)
        .expect("the scenario")
        .timeout(Duration::from_secs(30))
        .start()
        .expect("start SIPp");
    let peer = uas.sip_addr();
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = format!(
        "{}\n[[sip.trunk]]\nname = \"pbx\"\nhost = \"{peer}\"\n",
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
    let report = uas.wait();
    let record = ended_call(&d.api, &report);
    assert!(
        report.success(),
        "SIPp UAS failed: {}\n{record}",
        report.summary()
    );
    assert_eq!(record["direction"], "outbound");
    assert_eq!(record["outcome"], "answered", "{record}");
    assert_eq!(record["digits"], serde_json::json!(["1234"]), "{record}");
}

/// Back-to-back calls on one channel: each INVITE takes the channel the previous call's BYE
/// just freed. (The race this guards against, the switch's hang-up order for the ended call
/// reaching the SIP adapter after the next call had the channel and refusing that call with
/// 480, shows under load rather than here: `scripts/bench-sip cps --rate 250` failed 4–5 % of
/// calls that way before the adapter kept such channels reserved. This test checks the
/// channel turns over cleanly call after call.)
#[test]
fn sipp_back_to_back_calls_reuse_channels_cleanly() {
    if !sipp_present() {
        eprintln!("skipped: sipp is not installed or cannot play captures (needs CAP_NET_RAW)");
        return;
    }
    let dir = TempDir::new("tipring-sip-reuse").expect("a temp dir");
    let cap = dir.path().join("silence.pcap");
    pcap::write_ulaw(&cap, &[0; 800], RtpParams::default()).expect("write the capture");
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(1);
    let cfg = config(sip_port, rtp_port).replace("channels = 4", "channels = 1");
    let d = Daemon::start(&cfg, &[]);
    let remote: SocketAddr = ([127, 0, 0, 1], sip_port).into();
    // One channel, one call at a time: SIPp sends the next INVITE as soon as the BYE is
    // answered, so it races the switch's hang-up of the call before.
    let sipp = scenarios::uac_load(remote, &cap, Duration::from_millis(100))
        .expect("the scenario")
        .calls(Some(60))
        .rate(100.0)
        .limit(1)
        .timeout(Duration::from_secs(60))
        .run()
        .expect("run SIPp");
    assert!(
        sipp.success(),
        "every call should succeed: {}",
        sipp.summary()
    );
    assert_eq!(sipp.successful_calls(), 60, "{}", sipp.summary());
    let ended = calls(&d.api)
        .iter()
        .filter(|c| c["state"] == "ended")
        .count();
    assert!(ended > 0, "the daemon kept no ended calls");
}

/// Sends one INVITE (PCMU, with `extra` header lines) from a plain UDP socket to tipringd's
/// SIP port (see [`transact`]); returns the final response.
fn invite_final_response(sip_port: u16, call_id: &str, extra: &str) -> String {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
    let me = sock.local_addr().expect("its address");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        me.port() + 2
    );
    let invite = format!(
        "INVITE sip:2000@127.0.0.1:{sip_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:1001@127.0.0.1>;tag=t-{call_id}\r\nTo: <sip:2000@127.0.0.1>\r\n\
         Call-ID: {call_id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@{me}>\r\n\
         Max-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    transact(&sock, sip_port, &invite, "INVITE")
}

/// A call no route takes is refused with 480 and `Reason: Q.850;cause=20` (the switch takes
/// SIP line events from a queue and answers a refusal with a hang-up order).
#[test]
fn a_call_no_route_takes_gets_480() {
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = config(sip_port, rtp_port).replace("kind = \"sip\"", "kind = \"fxo\"");
    let _d = Daemon::start(&cfg, &[]);
    let final_response = invite_final_response(sip_port, "noroute-1", "");
    assert!(
        final_response.starts_with("SIP/2.0 480 "),
        "{final_response}"
    );
    assert!(
        final_response.contains("Reason: Q.850;cause=20"),
        "{final_response}"
    );
}

/// At the call limit (`[daemon] max_calls`; 0 is the box refusing every new call, say
/// for maintenance) an INVITE gets 503 with `Reason: Q.850;cause=34`, and the refusal is
/// counted; a config reload lifting the limit lets the next call in.
#[test]
fn a_call_over_the_limit_gets_503() {
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = config(sip_port, rtp_port).replacen(
        "drain_seconds = 2\n",
        "drain_seconds = 2\nmax_calls = 0\n",
        1,
    );
    let d = Daemon::start(&cfg, &[]);
    let final_response = invite_final_response(sip_port, "limit-1", "");
    assert!(
        final_response.starts_with("SIP/2.0 503 "),
        "{final_response}"
    );
    assert!(
        final_response.contains("Reason: Q.850;cause=34"),
        "{final_response}"
    );
    let (_, b) = http(&d.api, "GET", "/v1/health", "");
    let h: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(h["refused_at_limit"], 1, "{h}");
    std::fs::write(&d.config, cfg.replace("max_calls = 0\n", "")).unwrap();
    let (st, b) = http(&d.api, "POST", "/v1/config/reload", "");
    assert_eq!(st, 200, "{b}");
    let final_response = invite_final_response(sip_port, "limit-2", "");
    assert!(
        final_response.starts_with("SIP/2.0 200 "),
        "{final_response}"
    );
}

/// Above `sip.max_media_load` (the SIP media thread's share of its core over the last
/// second) new calls get 503 with `Retry-After` and cause 42 (congestion). The limit here
/// is one hundred-thousandth of a core, which even idle channels exceed.
#[test]
fn an_overloaded_media_thread_refuses_new_calls_with_503() {
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = config(sip_port, rtp_port).replace(
        "channels = 4\n",
        "channels = 4\nmax_media_load = 0.00001\nretry_after = 7\n",
    );
    let _d = Daemon::start(&cfg, &[]);
    // The load is measured over a second.
    std::thread::sleep(Duration::from_millis(1500));
    let final_response = invite_final_response(sip_port, "overload-1", "");
    assert!(
        final_response.starts_with("SIP/2.0 503 "),
        "{final_response}"
    );
    assert!(
        final_response.contains("Reason: Q.850;cause=42"),
        "{final_response}"
    );
    assert!(
        final_response.contains("Retry-After: 7"),
        "{final_response}"
    );
}

/// `Diversion` reaches the call as its redirecting number (record and the handler's offer),
/// alongside `P-Asserted-Identity` as the caller and `Privacy: id` as withheld.
#[test]
fn diversion_and_asserted_identity_reach_the_call() {
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let d = Daemon::start(&config(sip_port, rtp_port), &[]);
    let ok = invite_final_response(
        sip_port,
        "diverted-1",
        "P-Asserted-Identity: \"Front Desk\" <sip:4155550100@127.0.0.1>\r\n\
         Diversion: <sip:4155550199@127.0.0.1>;reason=user-busy;counter=1\r\n",
    );
    assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
    let cs = calls(&d.api);
    let c = cs
        .iter()
        .find(|c| c["direction"] == "inbound")
        .unwrap_or_else(|| panic!("no inbound call: {cs:?}"));
    assert_eq!(c["caller"], "4155550100", "{c}");
    assert_eq!(c["caller_name"], "Front Desk", "{c}");
    assert_eq!(c["redirecting"], "4155550199", "{c}");
}

/// Reads datagrams on `sock` until an INVITE comes (a trunk's OPTIONS are skipped), answers
/// it 486 Busy Here (so the call ends at once) and returns it.
fn take_invite_and_refuse(sock: &std::net::UdpSocket) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    loop {
        assert!(Instant::now() < deadline, "no INVITE from tipringd in 10 s");
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !text.starts_with("INVITE ") {
            continue;
        }
        let copy: String = text
            .lines()
            .filter(|l| {
                ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                    .iter()
                    .any(|h| l.starts_with(h))
            })
            .map(|l| {
                if l.starts_with("To:") {
                    format!("{l};tag=busy1\r\n")
                } else {
                    format!("{l}\r\n")
                }
            })
            .collect();
        let busy = format!("SIP/2.0 486 Busy Here\r\n{copy}Content-Length: 0\r\n\r\n");
        sock.send_to(busy.as_bytes(), from).expect("send 486");
        return text;
    }
}

/// A call out presents the `caller` the API asked for in `From`; with `withhold` the `From`
/// is anonymous, the number goes in `P-Asserted-Identity` and `Privacy: id` asks the trunk
/// to withhold it (RFC 3325 §9.1, RFC 3323). The trunk here is a plain UDP socket.
#[test]
fn calls_out_present_or_withhold_the_caller() {
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
    trunk
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let trunk_addr = trunk.local_addr().expect("its address");
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = format!(
        "{}\n[[sip.trunk]]\nname = \"pbx\"\nhost = \"{trunk_addr}\"\nkeepalive = 0\n",
        config(sip_port, rtp_port)
    );
    let d = Daemon::start(&cfg, &[]);
    // Channels: one sim phone, one sim trunk, then the SIP ones (3…6).
    for (withhold, body) in [
        (
            false,
            r#"{"channel": 3, "to": "2000", "caller": "4155550100"}"#,
        ),
        (
            true,
            r#"{"channel": 3, "to": "2000", "caller": "4155550100", "withhold": true}"#,
        ),
    ] {
        // The channel may still be releasing the call before.
        let deadline = Instant::now() + Duration::from_secs(5);
        let (code, reply) = loop {
            let (code, reply) = http(&d.api, "POST", "/v1/calls", body);
            if code != 409 || Instant::now() > deadline {
                break (code, reply);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(code, 201, "{reply}");
        let invite = take_invite_and_refuse(&trunk);
        let header = |name: &str| {
            invite
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_default()
                .to_string()
        };
        assert!(invite.starts_with("INVITE sip:2000@"), "{invite}");
        if withhold {
            assert!(
                header("From:").contains("anonymous@anonymous.invalid"),
                "{invite}"
            );
            assert!(
                header("P-Asserted-Identity:").contains("4155550100"),
                "{invite}"
            );
            assert_eq!(header("Privacy:").trim(), "Privacy: id", "{invite}");
        } else {
            assert!(header("From:").contains("sip:4155550100@"), "{invite}");
            assert!(header("Privacy:").is_empty(), "{invite}");
        }
    }
    // Both calls ended busy, with the caller in their records.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let cs = calls(&d.api);
        let busy = cs.iter().filter(|c| c["outcome"] == "busy").count();
        if busy == 2 {
            assert!(cs.iter().all(|c| c["caller"] == "4155550100"), "{cs:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{cs:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A trunk whose address answers with ICMP "port unreachable" (nothing listens there):
/// the call out fails at once with 503's cause 38 (network out of order), not after
/// timer B's 32 s, and the log names the address.
#[test]
fn a_call_to_an_unreachable_trunk_fails_at_once() {
    // The discard port: no test binds it, so nothing answers there for the test's length
    // (an ephemeral port just closed can be taken by a test running alongside).
    let dead: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert!(
        std::net::UdpSocket::bind(dead).is_ok(),
        "something listens on {dead}: this test needs it free"
    );
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = format!(
        "{}\n[[sip.trunk]]\nname = \"pbx\"\nhost = \"{dead}\"\nkeepalive = 0\n",
        config(sip_port, rtp_port)
    );
    let d = Daemon::start(&cfg, &[]);
    let started = Instant::now();
    let (code, reply) = http(
        &d.api,
        "POST",
        "/v1/calls",
        r#"{"channel": 3, "to": "2000"}"#,
    );
    assert_eq!(code, 201, "{reply}");
    let record = loop {
        let cs = calls(&d.api);
        if let Some(c) = cs.iter().find(|c| c["state"] == "ended") {
            break c.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the call did not fail within 10 s: {cs:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(record["cause"], 38, "{record}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed only after {:?}: {record}",
        started.elapsed()
    );
    let wanted = format!("{dead} is unreachable");
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(&wanted)) {
        match d.log.recv_timeout(Duration::from_secs(5)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no log line names {dead}; the log said:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// The value of header `name` in a SIP message's text.
fn header_of<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Sends `req` on `sock` to tipringd's SIP port every 500 ms until something answers, as a
/// UAC over UDP does (the SIP socket may open just after the API); returns the final
/// response to `method`.
fn transact(sock: &std::net::UdpSocket, to: u16, req: &str, method: &str) -> String {
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "no final response to {method} in 10 s"
        );
        if !answered {
            sock.send_to(req.as_bytes(), ("127.0.0.1", to))
                .expect("send");
        }
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let ours = header_of(&text, "CSeq").is_some_and(|c| c.ends_with(method));
        if !text.starts_with("SIP/2.0 ") || !ours {
            continue;
        }
        answered = true;
        let code: u16 = text[8..11].parse().unwrap_or(0);
        if code >= 200 {
            return text;
        }
    }
}

/// A caller on a plain UDP socket with a call up: INVITE (PCMU to `rtp_port`), 200, ACK;
/// then in-dialog requests.
struct UdpCaller {
    sock: std::net::UdpSocket,
    sip_port: u16,
    me: std::net::SocketAddr,
    call_id: String,
    from: String,
    to: String,
    target: String,
    /// The answer's media port.
    media_port: u16,
}

impl UdpCaller {
    fn call(sip_port: u16, call_id: &str, rtp_port: u16) -> UdpCaller {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("a socket");
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("a timeout");
        let me = sock.local_addr().expect("its address");
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        let call_id = format!("{call_id}@127.0.0.1");
        let from = format!("<sip:5551234@127.0.0.1>;tag=t-{call_id}");
        let invite = format!(
            "INVITE sip:1000@127.0.0.1:{sip_port} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}-inv\r\nFrom: {from}\r\n\
             To: <sip:1000@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:5551234@{me}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        let ok = transact(&sock, sip_port, &invite, "INVITE");
        assert!(ok.starts_with("SIP/2.0 200 "), "{ok}");
        let to = header_of(&ok, "To").expect("To").to_string();
        let target = header_of(&ok, "Contact")
            .and_then(|c| c.split('<').nth(1))
            .and_then(|c| c.split('>').next())
            .expect("a Contact URI")
            .to_string();
        let media_port = ok
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|m| m.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("the answer's media port");
        let c = UdpCaller {
            sock,
            sip_port,
            me,
            call_id,
            from,
            to,
            target,
            media_port,
        };
        c.sock
            .send_to(
                c.request("ACK", 1, "", "").as_bytes(),
                ("127.0.0.1", sip_port),
            )
            .expect("send ACK");
        c
    }

    fn request(&self, method: &str, cseq: u32, extra: &str, body: &str) -> String {
        let (me, from, to, target, call_id) =
            (self.me, &self.from, &self.to, &self.target, &self.call_id);
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}-{cseq}\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// Sends an in-dialog request and returns its final response.
    fn send(&self, method: &str, cseq: u32, extra: &str, body: &str) -> String {
        let req = self.request(method, cseq, extra, body);
        transact(&self.sock, self.sip_port, &req, method)
    }
}

/// Digits sent as SIP INFO (`application/dtmf-relay`) reach the IVR once each: the media
/// shard regenerates them in band, like RFC 4733 digits, so the engine reports them (and a
/// bridged line would hear them). The caller is a plain UDP socket: INVITE, ACK, four INFOs.
#[test]
fn sip_info_digits_reach_the_ivr_in_band() {
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let d = Daemon::start(&config(sip_port, rtp_port), &[]);
    let caller = UdpCaller::call(sip_port, "info-1", 40_000);
    std::thread::sleep(Duration::from_millis(1000));
    for (i, digit) in ['1', '2', '3', '4'].into_iter().enumerate() {
        let r = caller.send(
            "INFO",
            2 + i as u32,
            "Content-Type: application/dtmf-relay\r\n",
            &format!("Signal={digit}\r\nDuration=160\r\n"),
        );
        assert!(r.starts_with("SIP/2.0 200 "), "{r}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cs = calls(&d.api);
        let digits = cs
            .iter()
            .find(|c| c["direction"] == "inbound")
            .map(|c| (c["digits"].clone(), digit_events(c).len()));
        if let Some((ds, events)) = &digits
            && *ds == serde_json::json!(["1234"])
        {
            assert_eq!(*events, 4, "each key press once: {cs:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{cs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An ended call's record keeps the RTP figures the media thread published when the call's
/// media stopped, not those of the moment the switch ended it (up to a second older): a
/// caller sends exactly 30 packets in 0.6 s, starting the moment it has the 200, and hangs
/// up; the record counts 29 (the first is on probation, RFC 3550 §A.1).
#[test]
fn an_ended_calls_rtp_figures_are_its_last() {
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let d = Daemon::start(&config(sip_port, rtp_port), &[]);
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").expect("an RTP socket");
    let local_rtp = rtp.local_addr().expect("its address").port();
    let caller = UdpCaller::call(sip_port, "last-1", local_rtp);
    let media_port = caller.media_port;
    // The media starts at once after the 200, as a phone's does: packets that reach the
    // slot before the media thread starts its call (up to a tick) count too.
    for k in 0..30u16 {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&(1000 + k).to_be_bytes());
        p.extend_from_slice(&(u32::from(k) * 160).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        rtp.send_to(&p, ("127.0.0.1", media_port))
            .expect("send RTP");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let bye = caller.send("BYE", 2, "", "");
    assert!(bye.starts_with("SIP/2.0 200 "), "{bye}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let cs = calls(&d.api);
        let c = cs.iter().find(|c| c["direction"] == "inbound");
        if let Some(c) = c
            && c["state"] == "ended"
            && c["rtp"]["packets_received"] == 29
        {
            break;
        }
        assert!(Instant::now() < deadline, "{c:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A SIP channel captured at run time: besides the WAV, a pcap of its RTP both ways, each
/// packet in IPv4 and UDP headers with the real addresses, readable by any pcap tool.
#[test]
fn a_sip_channels_capture_has_its_rtp_in_a_pcap() {
    if !sipp_present() {
        eprintln!("skipped: SIPp cannot play captures here");
        return;
    }
    let dir = TempDir::new("tipring-sip-cap").expect("a temp dir");
    let cap = dir.path().join("digits.pcap");
    pcap::write_dtmf(&cap, "1234", &DtmfOptions::default(), RtpParams::default())
        .expect("write the capture");
    let sip_port = free_port_pair();
    let rtp_port = common::rtp_base(4);
    let cfg = config(sip_port, rtp_port).replacen(
        "drain_seconds = 2\n",
        &format!(
            "drain_seconds = 2\ncapture_dir = \"{}\"\n",
            dir.path().display()
        ),
        1,
    );
    let d = Daemon::start(&cfg, &[]);
    // Channels 1 and 2 are the phone and the trunk; 3.. are SIP.
    let (st, b) = http(&d.api, "POST", "/v1/channels/3/capture", "{\"on\": true}");
    assert_eq!(st, 200, "{b}");
    let remote: SocketAddr = ([127, 0, 0, 1], sip_port).into();
    let sipp = scenarios::uac_pcmu_4733(remote, &cap)
        .expect("the scenario")
        .caller("5551234")
        .timeout(Duration::from_secs(30))
        .run()
        .expect("run SIPp");
    let record = ended_call(&d.api, &sipp);
    assert_eq!(record["channel"], 3, "{record}");
    let (st, b) = http(&d.api, "POST", "/v1/channels/3/capture", "{\"on\": false}");
    assert_eq!(st, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let wav = std::path::PathBuf::from(v["file"].as_str().unwrap());
    let file = std::fs::File::open(wav.with_extension("pcap")).expect("the pcap beside the WAV");
    let mut r = pcap_file::pcap::PcapReader::new(file).unwrap();
    assert_eq!(r.header().datalink, pcap_file::DataLink::RAW);
    let (mut sent, mut received) = (0, 0);
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        let d = &p.data;
        assert_eq!(d[0] >> 4, 4, "IPv4");
        assert_eq!(d[9], 17, "UDP");
        let sport = u16::from_be_bytes([d[20], d[21]]);
        let dport = u16::from_be_bytes([d[22], d[23]]);
        assert_eq!(d[28] >> 6, 2, "RTP version 2");
        if sport == rtp_port {
            sent += 1;
        } else if dport == rtp_port {
            received += 1;
        } else {
            panic!("a packet of neither direction: {sport} -> {dport}");
        }
    }
    // Every packet SIPp played from its capture arrived and was captured; the IVR sent
    // its audio meanwhile (20 ms packets from answer to hang-up).
    let mut played = 0;
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(&cap).unwrap()).unwrap();
    while let Some(p) = r.next_packet() {
        p.unwrap();
        played += 1;
    }
    // (A packet that arrives before the slot's session starts or after it stops is not
    // read by the slot, so not captured either: allow the edges.)
    assert!(
        received <= played && received + 2 >= played,
        "{received} captured of {played} played"
    );
    let up_ms = record["ended_ms"].as_u64().unwrap() - record["answered_ms"].as_u64().unwrap();
    assert!(sent >= up_ms / 20 / 2, "{sent} sent in {up_ms} ms of call");
}
