//! Each signalling scenario against its SIPp peer, and the runner's failure paths.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;
use tipring_sipkit::Error;
use tipring_sipkit::digest;
use tipring_sipkit::pcap;
use tipring_sipkit::scenarios;
use tipring_sipkit::sipp::{Sipp, SippExit, scenario};
use tipring_sipkit::stream::RtpParams;
use tipring_sipkit::tempdir::TempDir;

const T: Duration = Duration::from_secs(15);

#[test]
fn registrar_challenges_accepts_and_sees_refreshes() {
    if !common::have_sipp() {
        return;
    }
    let registrar = scenarios::uas_registrar_auth("alice", "s3cret", 2)
        .timeout(T)
        .start()
        .unwrap();
    let ua = scenarios::uac_register_auth(
        registrar.sip_addr(),
        "alice",
        "s3cret",
        2,
        Duration::from_millis(200),
    )
    .timeout(T)
    .start()
    .unwrap();
    ua.wait().check().unwrap();
    let r = registrar.wait().check().unwrap();
    // Initial (nc=1), refresh re-using the nonce (nc=2), refresh without credentials
    // (logged empty) answered after a new challenge (nc=1 on the new nonce).
    let auths: Vec<&str> = r.log_values("REGISTER Authorization: ").collect();
    assert_eq!(auths.len(), 4, "{}", r.log);
    assert!(auths[0].contains("nc=00000001"));
    assert!(auths[1].contains("nc=00000002"));
    assert_eq!(auths[2], "");
    assert!(auths[3].contains("nc=00000001"));
    for a in [auths[0], auths[1], auths[3]] {
        assert!(digest::verify(a, "REGISTER", "s3cret").unwrap(), "{a}");
    }
    let nonce = |a: &str| digest::DigestCredentials::parse(a).unwrap().nonce;
    assert_eq!(nonce(auths[0]), nonce(auths[1]));
    assert_ne!(nonce(auths[0]), nonce(auths[3]));
}

#[test]
fn registrar_refuses_a_bad_password() {
    if !common::have_sipp() {
        return;
    }
    let registrar = scenarios::uas_registrar_auth("alice", "s3cret", 0)
        .timeout(T)
        .start()
        .unwrap();
    let ua =
        scenarios::uac_register_auth(registrar.sip_addr(), "alice", "wrong", 0, Duration::ZERO)
            .timeout(T)
            .start()
            .unwrap();
    let ua = ua.wait();
    let r = registrar.wait();
    assert!(!r.success());
    assert_eq!(r.failed_calls(), 1, "{}", r.summary());
    assert!(r.log.contains("bad credentials"), "{}", r.summary());
    let e = r.check().unwrap_err().to_string();
    assert!(e.contains("bad credentials"), "{e}");
    // The UA got a 403 where it expected 200: its call failed on an unexpected message.
    assert_eq!(ua.exit, SippExit::SomeFailed, "{}", ua.summary());
    assert!(
        ua.stats
            .as_ref()
            .unwrap()
            .failures
            .iter()
            .any(|(why, _)| why == "UnexpectedMessage"),
        "{}",
        ua.summary()
    );
}

#[test]
fn invite_407_then_proxy_authorization() {
    if !common::have_sipp() {
        return;
    }
    let uas = scenarios::uas_invite_auth("alice")
        .timeout(T)
        .start()
        .unwrap();
    let uac = scenarios::peer_uac_call(uas.sip_addr(), Duration::from_millis(100))
        .auth("alice", "s3cret")
        .timeout(T)
        .start()
        .unwrap();
    uac.wait().check().unwrap();
    let r = uas.wait().check().unwrap();
    let creds: Vec<&str> = r.log_values("INVITE Proxy-Authorization: ").collect();
    assert_eq!(creds.len(), 1, "{}", r.log);
    assert!(digest::verify(creds[0], "INVITE", "s3cret").unwrap());
    assert!(!digest::verify(creds[0], "INVITE", "other").unwrap());
}

#[test]
fn invite_407_with_the_wrong_user_fails() {
    if !common::have_sipp() {
        return;
    }
    let uas = scenarios::uas_invite_auth("alice")
        .timeout(T)
        .start()
        .unwrap();
    let uac = scenarios::peer_uac_call(uas.sip_addr(), Duration::from_millis(100))
        .auth("mallory", "s3cret")
        .timeout(T)
        .start()
        .unwrap();
    let uac = uac.wait();
    let r = uas.wait();
    assert_eq!(r.failed_calls(), 1, "{}", r.summary());
    assert!(r.log.contains("user mallory, expected alice"), "{}", r.log);
    assert!(
        uac.log.contains("INVITE rejected with 403"),
        "{}",
        uac.summary()
    );
}

#[test]
fn invite_401_checks_the_password() {
    if !common::have_sipp() {
        return;
    }
    for (password, ok) in [("s3cret", true), ("wrong", false)] {
        let uas = scenarios::uas_invite_auth_401("alice", "s3cret")
            .timeout(T)
            .start()
            .unwrap();
        let uac = scenarios::peer_uac_call(uas.sip_addr(), Duration::from_millis(100))
            .auth("alice", password)
            .timeout(T)
            .start()
            .unwrap();
        uac.wait().check().unwrap();
        let r = uas.wait();
        assert_eq!(r.success(), ok, "{}", r.summary());
        if !ok {
            assert!(r.log.contains("bad credentials"), "{}", r.log);
        }
    }
}

#[test]
fn options_response_times() {
    if !common::have_sipp() {
        return;
    }
    let uas = scenarios::peer_uas_options()
        .calls(Some(40))
        .timeout(T)
        .start()
        .unwrap();
    let uac = scenarios::uac_options(uas.sip_addr())
        .calls(Some(40))
        .rate(100.0)
        .timer_resolution_ms(1)
        .trace_rtt(true)
        .timeout(T)
        .start()
        .unwrap();
    let r = uac.wait().check().unwrap();
    uas.wait().check().unwrap();
    let st = r.stats.as_ref().unwrap();
    assert_eq!((st.successful, st.failed), (40, 0));
    let rep = st.repartition("ResponseTimeRepartition1").unwrap();
    assert_eq!(rep.total(), 40);
    assert_eq!(rep.buckets.len(), 9);
    assert_eq!(r.rtt.len(), 40);
    assert!(r.rtt_percentile(1, 99.0).unwrap() < 100.0, "{:?}", r.rtt);
    assert_eq!(st.response_times[0].name, "1");
}

#[test]
fn load_calls_with_media_both_ways() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("load").unwrap();
    let second = dir.join("1s.pcap");
    let s = pcap::write_tone(&second, 1004.0, -10.0, 1000, RtpParams::default()).unwrap();
    assert_eq!(s.packets, 50);
    let uas = scenarios::peer_uas_answer(&second)
        .unwrap()
        .calls(Some(8))
        .timeout(T)
        .start()
        .unwrap();
    let uac = scenarios::uac_load(uas.sip_addr(), &second, Duration::from_millis(1100))
        .unwrap()
        .calls(Some(8))
        .rate(8.0)
        .limit(8)
        .timeout(T)
        .start()
        .unwrap();
    let r = uac.wait().check().unwrap();
    uas.wait().check().unwrap();
    let st = r.stats.unwrap();
    assert_eq!(st.successful, 8);
    let names: Vec<&str> = st.response_times.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["1", "2"]);
    assert_eq!(
        st.repartition("ResponseTimeRepartition2").unwrap().total(),
        8
    );
}

#[test]
fn uac_hangs_up_itself() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("hangup").unwrap();
    let silence = common::short_silence(&dir);
    let uas = scenarios::peer_uas_answer(&silence)
        .unwrap()
        .timeout(T)
        .start()
        .unwrap();
    let uac = scenarios::uac_pcmu_4733(uas.sip_addr(), &silence)
        .unwrap()
        .hangup_after(Duration::from_millis(300))
        .trace_messages(true)
        .timeout(T)
        .start()
        .unwrap();
    let r = uac.wait().check().unwrap();
    uas.wait().check().unwrap();
    assert!(r.elapsed >= Duration::from_millis(300));
    assert!(r.messages.contains("BYE sip:"), "{}", r.messages);
}

#[test]
fn an_unexpected_bye_fails_the_call() {
    if !common::can_play() {
        return;
    }
    let dir = TempDir::new("unexpected").unwrap();
    let silence = common::short_silence(&dir);
    // Both sides mean to hang up; the callee does it first.
    let uas = scenarios::peer_uas_answer(&silence)
        .unwrap()
        .hangup_after(Duration::from_millis(100))
        .timeout(T)
        .start()
        .unwrap();
    let uac = scenarios::uac_pcmu_4733(uas.sip_addr(), &silence)
        .unwrap()
        .hangup_after(Duration::from_secs(3))
        .timeout(T)
        .start()
        .unwrap();
    let r = uac.wait();
    // The `bye` behaviour answers the BYE with 200 (so the callee succeeds); `abortunexp`
    // fails the call.
    uas.wait().check().unwrap();
    assert_eq!(r.exit, SippExit::SomeFailed, "{}", r.summary());
    assert_eq!(r.failed_calls(), 1);
    assert!(r.errors.contains("unexpected BYE"), "{}", r.summary());
    assert!(r.elapsed < Duration::from_secs(3));
}

#[test]
fn timeout_stops_sipp_and_says_so() {
    if !common::have_sipp() {
        return;
    }
    // Nobody answers at this address.
    let hole = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let r = scenarios::uac_options(hole.local_addr().unwrap())
        .timeout(Duration::from_secs(1))
        .run()
        .unwrap();
    assert_eq!(r.exit, SippExit::Fatal, "{}", r.summary());
    assert!(!r.killed_at_deadline);
    assert!(r.elapsed < Duration::from_secs(4));
    let e = r.check().unwrap_err().to_string();
    assert!(e.contains("timed out after"), "{e}");
}

#[test]
fn soft_stop_ends_a_run_without_a_call_limit() {
    if !common::have_sipp() {
        return;
    }
    let uas = scenarios::peer_uas_options()
        .calls(None)
        .timeout(T)
        .start()
        .unwrap();
    scenarios::uac_options(uas.sip_addr())
        .calls(Some(3))
        .run()
        .unwrap()
        .check()
        .unwrap();
    let r = uas.stop(Duration::from_secs(5));
    assert!(!r.killed_at_deadline, "{}", r.summary());
    assert_eq!(r.successful_calls(), 3, "{}", r.summary());
}

#[test]
fn a_taken_port_is_a_start_error() {
    if !common::have_sipp() {
        return;
    }
    let taken = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = scenarios::peer_uas_options()
        .sip_port(port)
        .start()
        .unwrap_err();
    assert!(matches!(e, Error::Start { .. }), "{e}");
    assert!(e.to_string().contains("Unable to bind"), "{e}");
}

#[test]
fn bad_scenarios_and_missing_keys_are_reported() {
    if !common::have_sipp() {
        return;
    }
    let dir = TempDir::new("bad").unwrap();
    let bad = dir.join("bad.xml");
    std::fs::write(&bad, "<scenario><nonsense/></scenario>").unwrap();
    let e = Sipp::new(&bad).start().unwrap_err().to_string();
    assert!(e.contains("sipp did not start"), "{e}");
    assert!(e.contains("Unable to load or parse"), "{e}");
    // uac_pcmu_4733 without its keys: SIPp refuses to load it and says which.
    let e = Sipp::new(scenario("uac_pcmu_4733.xml"))
        .remote(SocketAddr::from((Ipv4Addr::LOCALHOST, 9)))
        .start()
        .unwrap_err()
        .to_string();
    assert!(e.contains("keyword"), "{e}");
    let e = scenarios::uac_pcmu_4733(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 9)),
        &dir.join("missing.pcap"),
    )
    .unwrap()
    .start()
    .unwrap_err();
    assert!(matches!(e, Error::Missing { .. }), "{e}");
}

#[test]
fn injection_fields_reach_the_messages() {
    if !common::have_sipp() {
        return;
    }
    let dir = TempDir::new("inject").unwrap();
    let scen = dir.join("inject.xml");
    std::fs::write(
        &scen,
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="inject">
  <send retrans="500"><![CDATA[

      OPTIONS sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field1]@[local_ip]>;tag=[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>
"#,
    )
    .unwrap();
    let uas = scenarios::peer_uas_options()
        .calls(Some(2))
        .trace_messages(true)
        .timeout(T)
        .start()
        .unwrap();
    Sipp::new(&scen)
        .remote(uas.sip_addr())
        .inject(vec![
            vec!["2001".into(), "a".into()],
            vec!["2002".into(), "b".into()],
        ])
        .calls(Some(2))
        .timeout(T)
        .run()
        .unwrap()
        .check()
        .unwrap();
    let r = uas.wait().check().unwrap();
    assert!(r.messages.contains("OPTIONS sip:2001@"), "{}", r.messages);
    assert!(r.messages.contains("OPTIONS sip:2002@"), "{}", r.messages);
}
