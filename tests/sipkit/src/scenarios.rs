//! The scenario files of `tests/sip/`, each set up with every key it needs.
//!
//! Each function returns a [`Sipp`] ready to [`start`](Sipp::start), with defaults a test
//! can override with the builder (`.key(…)`, [`Sipp::hangup_after`], [`Sipp::rtp_port`],
//! [`Sipp::calls`] …). What each file does is written at its top.
//!
//! Defaults: realm `tipring.test`, caller `1001`, called number (`-s`) `1000`, one call.

use crate::error::{Error, Result};
use crate::sipp::{Sipp, scenario};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The realm the challenging scenarios offer.
pub const REALM: &str = "tipring.test";
/// The default calling number (`[caller]`).
pub const CALLER: &str = "1001";
/// The default called number (`-s`, `[service]`).
pub const CALLED: &str = "1000";

fn absolute(pcap: &Path) -> Result<String> {
    let p = std::path::absolute(pcap)
        .map_err(|e| Error::io(format!("making {} absolute", pcap.display()), e))?;
    Ok(p.display().to_string())
}

impl Sipp {
    /// Sets `hangup_after_ms`: this side sends BYE that long after the ACK (zero: it waits
    /// for the far end's BYE).
    pub fn hangup_after(self, d: Duration) -> Self {
        self.key("hangup_after_ms", d.as_millis())
    }

    /// For [`uas_registrar_auth`]: challenge every refresh again (a new nonce; `stale=TRUE`
    /// when it carried credentials) instead of accepting the credentials it carries.
    pub fn rechallenge_refreshes(self, on: bool) -> Self {
        self.key("rechallenge", u8::from(on))
    }

    /// Sets `[caller]`, the calling number.
    pub fn caller(self, number: &str) -> Self {
        self.key("caller", number)
    }
}

/// `uac_pcmu_4733.xml`: calls `remote` offering PCMU + telephone-event, plays `pcap` after
/// the ACK, waits for the far end's BYE.
///
/// # Errors
/// [`Error::Io`] when `pcap` cannot be made absolute.
pub fn uac_pcmu_4733(remote: SocketAddr, pcap: &Path) -> Result<Sipp> {
    Ok(Sipp::new(scenario("uac_pcmu_4733.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .key("pcap", absolute(pcap)?)
        .hangup_after(Duration::ZERO))
}

/// `uac_inband.xml`: as [`uac_pcmu_4733`], offering PCMU only.
///
/// # Errors
/// [`Error::Io`] when `pcap` cannot be made absolute.
pub fn uac_inband(remote: SocketAddr, pcap: &Path) -> Result<Sipp> {
    Ok(Sipp::new(scenario("uac_inband.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .key("pcap", absolute(pcap)?)
        .hangup_after(Duration::ZERO))
}

/// `uas_answer_dtmf.xml`: answers one call, plays `pcap` after the ACK, waits for BYE.
///
/// # Errors
/// [`Error::Io`] when `pcap` cannot be made absolute.
pub fn uas_answer_dtmf(pcap: &Path) -> Result<Sipp> {
    Ok(Sipp::new(scenario("uas_answer_dtmf.xml")).key("pcap", absolute(pcap)?))
}

/// `uas_registrar_auth.xml`: a registrar demanding `user`/`password`, granting 10 s and
/// accepting `refreshes` refreshes (each with the credentials it carries; see
/// [`Sipp::rechallenge_refreshes`]).
pub fn uas_registrar_auth(user: &str, password: &str, refreshes: u32) -> Sipp {
    Sipp::new(scenario("uas_registrar_auth.xml"))
        .key("user", user)
        .key("password", password)
        .key("realm", REALM)
        .key("refreshes", refreshes)
        .key("rechallenge", 0)
}

/// `uac_register_auth.xml`: registers `user` at `remote` with `password`, then refreshes
/// `refreshes` times, each `every` after the last 200.
pub fn uac_register_auth(
    remote: SocketAddr,
    user: &str,
    password: &str,
    refreshes: u32,
    every: Duration,
) -> Sipp {
    Sipp::new(scenario("uac_register_auth.xml"))
        .remote(remote)
        .auth(user, password)
        .key("user", user)
        .key("refreshes", refreshes)
        .key("refresh_ms", every.as_millis())
}

/// `uas_invite_auth.xml`: answers an INVITE with 407, expects it again with
/// Proxy-Authorization for `user` (check the password with
/// [`crate::digest::verify`] on [`SippReport::log_values`](crate::sipp::SippReport::log_values)`("INVITE Proxy-Authorization: ")`;
/// the INVITE's Request-URI, which the digest's uri must be, is logged after
/// `"INVITE Request-URI: "`), answers, waits for BYE.
pub fn uas_invite_auth(user: &str) -> Sipp {
    Sipp::new(scenario("uas_invite_auth.xml"))
        .key("user", user)
        .key("realm", REALM)
}

/// `uas_invite_auth_401.xml`: as [`uas_invite_auth`] with 401 and Authorization, which
/// SIPp verifies against `password` itself (and logs after `"INVITE Authorization: "`).
pub fn uas_invite_auth_401(user: &str, password: &str) -> Sipp {
    Sipp::new(scenario("uas_invite_auth_401.xml"))
        .key("user", user)
        .key("password", password)
        .key("realm", REALM)
}

/// `uac_options.xml`: one OPTIONS per call to `remote`, expecting 200 (response time 1).
pub fn uac_options(remote: SocketAddr) -> Sipp {
    Sipp::new(scenario("uac_options.xml"))
        .remote(remote)
        .service(CALLED)
}

/// `uac_load.xml`: calls `remote`, plays `pcap`, hangs up `hold` after the ACK (response
/// times: 1 INVITE→200, 2 BYE→200). Set calls, rate and concurrency on the result.
///
/// # Errors
/// [`Error::Io`] when `pcap` cannot be made absolute.
pub fn uac_load(remote: SocketAddr, pcap: &Path, hold: Duration) -> Result<Sipp> {
    Ok(Sipp::new(scenario("uac_load.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .key("pcap", absolute(pcap)?)
        .key("hold_ms", hold.as_millis()))
}

/// `uac_load_stream.xml`: as [`uac_load`], but SIPp streams `audio` (raw G.711 μ-law, no
/// header; copied into SIPp's directory as `caller.ulaw`) with its `rtp_stream` action
/// from an ordinary UDP socket per call, instead of playing a capture through a raw
/// socket. Use it for load: a raw `IPPROTO_UDP` socket per playing call makes Linux copy
/// every UDP datagram on the machine to each of them.
pub fn uac_load_stream(remote: SocketAddr, audio: &Path, hold: Duration) -> Sipp {
    Sipp::new(scenario("uac_load_stream.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .with_file("caller.ulaw", audio)
        .key("hold_ms", hold.as_millis())
}

/// `peer_uas_answer.xml`: answers, plays `pcap` after the ACK, waits for BYE (or sends it:
/// [`Sipp::hangup_after`]).
///
/// # Errors
/// [`Error::Io`] when `pcap` cannot be made absolute.
pub fn peer_uas_answer(pcap: &Path) -> Result<Sipp> {
    Ok(Sipp::new(scenario("peer_uas_answer.xml"))
        .key("pcap", absolute(pcap)?)
        .hangup_after(Duration::ZERO))
}

/// `peer_uac_call.xml`: calls `remote` (answering a 401/407 with [`Sipp::auth`]
/// credentials), hangs up `hangup_after` after the ACK.
pub fn peer_uac_call(remote: SocketAddr, hangup_after: Duration) -> Sipp {
    Sipp::new(scenario("peer_uac_call.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .hangup_after(hangup_after)
}

/// `peer_uas_options.xml`: answers OPTIONS with 200, one per call.
pub fn peer_uas_options() -> Sipp {
    Sipp::new(scenario("peer_uas_options.xml"))
}

/// `uac_100rel.xml`: calls `remote` requiring `100rel` (RFC 3262), checks the 180 is
/// reliable (`Require: 100rel`, `RSeq`), waits for the INVITE's 200, then sends the PRACK
/// for the 180 and the ACK, expects 200 to the PRACK, and hangs up `hold` after the ACK.
/// Logs "180 RSeq: N" and `<step> at <ms>` lines.
pub fn uac_100rel(remote: SocketAddr, hold: Duration) -> Sipp {
    Sipp::new(scenario("uac_100rel.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .key("hold_ms", hold.as_millis())
}

/// `uas_183_100rel.xml`: answers an INVITE (which must support `100rel`) with a reliable
/// 183 and SDP (`Require: 100rel`, `RSeq: 1`), checks the PRACK's `RAck` against the
/// INVITE's CSeq (a wrong one is fatal), answers the PRACK and then the INVITE, and hangs
/// up `hold` after the ACK. Logs "PRACK RAck: …" and `<step> at <ms>` lines.
pub fn uas_183_100rel(hold: Duration) -> Sipp {
    Sipp::new(scenario("uas_183_100rel.xml")).key("hold_ms", hold.as_millis())
}

/// `uac_session_refresh.xml`: calls `remote` asking for a 90 s session timer refreshed by
/// the far end (`refresher=uas`; `Allow` lists UPDATE when `allow_update`), checks the
/// 200 agrees, waits up to 60 s for the refresh (UPDATE or re-INVITE), answers it, and
/// hangs up. Logs "refresh: UPDATE"/"refresh: INVITE", the SDP o= lines of a re-INVITE
/// and of the 200, and `<step> at <ms>` lines. Give it a timeout above a minute.
pub fn uac_session_refresh(remote: SocketAddr, allow_update: bool) -> Sipp {
    let allow = if allow_update {
        "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"
    } else {
        "INVITE, ACK, CANCEL, BYE, OPTIONS"
    };
    Sipp::new(scenario("uac_session_refresh.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
        .key("allow", allow)
}

/// `uac_session_expiry.xml`: calls `remote` taking on the refreshes of a 90 s session
/// timer (`refresher=uac`), checks the 200 agrees, never refreshes, and waits up to 95 s
/// for the far end's BYE. Logs "BYE Reason: …" and `<step> at <ms>` lines. Give it a
/// timeout above 95 s.
pub fn uac_session_expiry(remote: SocketAddr) -> Sipp {
    Sipp::new(scenario("uac_session_expiry.xml"))
        .remote(remote)
        .service(CALLED)
        .caller(CALLER)
}
