//! What the API shows of calls and channels.

use serde::Serialize;
use std::collections::BTreeMap;

/// A call as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallView {
    /// The call's id.
    pub id: u64,
    /// Its channel.
    pub channel: u32,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `offered`, `originating`, `up`, `ending` (over; its isolated handler's last answers and
    /// the record are due) or `ended` (recorded).
    pub state: &'static str,
    /// The handler running it (none for a leg placed by another call's handler).
    pub handler: Option<String>,
    /// That handler's version.
    pub handler_version: Option<String>,
    /// The call that placed this one (a handler's originate).
    pub parent: Option<u64>,
    /// The call it is bridged to.
    pub bridged_to: Option<u64>,
    /// Calling number (caller ID), if known.
    pub caller: Option<String>,
    /// Calling name (caller ID), if known.
    pub caller_name: Option<String>,
    /// Called number (outbound).
    pub called: Option<String>,
    /// The number that forwarded the call to us (SIP `Diversion`, caller ID's redirecting
    /// number), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirecting: Option<String>,
    /// The calling number's presentation: `allowed`, `restricted` (withheld) or
    /// `unavailable`; none when no caller ID came.
    pub presentation: Option<&'static str>,
    /// The route that picked the handler (inbound), in words.
    pub route: Option<String>,
    /// Unix time, ms, when the call began (the line seized, or the call offered).
    pub created_ms: u64,
    /// Unix time, ms, when it rang: an inbound line's first ring; an outbound call's phone
    /// rung or ringback first heard.
    pub ring_ms: Option<u64>,
    /// Unix time, ms, when it was answered.
    pub answered_ms: Option<u64>,
    /// Unix time, ms, when it ended.
    pub ended_ms: Option<u64>,
    /// Q.850 cause of the hang-up.
    pub cause: Option<u32>,
    /// The cause in words.
    pub cause_text: Option<String>,
    /// Outbound: `answered`, `busy`, `no-answer`, `congestion`, `sit`, `failed`.
    pub outcome: Option<&'static str>,
    /// Every digit string a collection returned, in order.
    pub digits: Vec<String>,
    /// Files the call recorded, in order.
    pub recordings: Vec<String>,
    /// Variables the handler set.
    pub vars: BTreeMap<String, String>,
    /// What happened, oldest first (at most the first 200 events).
    pub events: Vec<EventView>,
    /// SIP channels: the call's RTP figures (live: as of the last second; ended: as the
    /// call ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp: Option<RtpView>,
}

/// A SIP call's RTP figures (RFC 3550 receiver statistics and what the peer's RTCP says),
/// as the media thread published them.
pub type RtpView = tipring_hal::sip::CallRtpStats;

/// One line of a call's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventView {
    /// Unix time, ms.
    pub at_ms: u64,
    /// What, in words (`"answered"`, `"digit 5"`, `"play file:… done"`).
    pub event: String,
}

/// A channel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelView {
    /// Its number.
    pub id: u32,
    /// Its kind.
    pub kind: &'static str,
    /// Its backend.
    pub backend: &'static str,
    /// Where it is.
    pub location: String,
    /// `idle`, `ringing`, `in-call`, `alarm` (its span is in alarm: out of service).
    pub state: &'static str,
    /// The call on it.
    pub call: Option<u64>,
    /// The capture file being written, if a capture is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

/// Something for the event stream (`GET /v1/events`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamEvent {
    /// Unix time, ms.
    pub at_ms: u64,
    /// The channel.
    pub channel: u32,
    /// The call, if any.
    pub call: Option<u64>,
    /// What happened.
    pub event: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's names for a SIP call's RTP figures (operators' scripts read them).
    #[test]
    fn rtp_figures_keep_their_api_names() {
        let v = serde_json::to_value(RtpView {
            codec: "PCMU",
            delay_ms: 40.0,
            ..Default::default()
        })
        .unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "codec",
                "packets_sent",
                "packets_received",
                "lost",
                "loss_pct",
                "jitter_ms",
                "rtt_ms",
                "buffer_ms",
                "concealed_ms",
                "late",
                "remote_loss_pct",
                "remote_jitter_ms",
                "rtcp_sent",
                "rtcp_received",
                "digits_received",
                "digits_sent"
            ]
        );
        assert_eq!(v["buffer_ms"], 40.0);
    }
}
