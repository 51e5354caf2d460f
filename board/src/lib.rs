//! # tipring-board
//!
//! Board profiles: what a Tipring appliance's telephony hardware is, how to check that
//! against the machine, and DAHDI's `system.conf` for it.
//!
//! A **profile** is a TOML file, one per appliance layout. It names the hardware (the
//! simulated board or DAHDI), the DAHDI spans (an analog card, or each T1/E1 port), the
//! channel groups and their signalling, the device paths, the country (tone plan and
//! DAHDI tone zone), the companding law, the caller-ID standard, the echo-canceller tails,
//! and on mixed boxes how many SIP channels there are. Profiles ship in `board/profiles/`
//! ([`Profile::builtin`]); an integrator writes their own and points the daemon at it.
//!
//! ```
//! use tipring_board::{PortKind, Profile, Signalling};
//!
//! let text = r#"
//! [board]
//! name = "desk"
//! description = "Two phones and two exchange lines on one analog card"
//! hardware = "dahdi"      # sim | dahdi
//! country = "uk"          # us | uk | de | fr: tone plan and DAHDI tone zone
//! caller_id = "etsi-v23-lr"
//! # law = "alaw"          # ulaw | alaw; default ulaw for us, alaw elsewhere
//!
//! [[span]]                # an analog card is one span
//! number = 1
//! kind = "analog"         # analog | t1 | e1
//! channels = 4
//!
//! [[group]]
//! name = "phones"
//! kind = "fxs"            # fxs: a phone plugs in | fxo: plugs into a line | t1 | e1
//! channels = "1-2"        # or [1, 2]
//! signalling = "kewlstart"
//!
//! [[group]]
//! name = "lines"
//! kind = "fxo"
//! channels = [3, 4]
//! signalling = "kewlstart"
//! echo_tail_ms = 128      # 0 (off), 32, 64, 128; default 64 analog, 0 digital
//! "#;
//! let profile = Profile::parse("desk.toml", text).unwrap();
//! assert_eq!(profile.groups[1].kind, PortKind::Fxo);
//! assert_eq!(profile.groups[0].echo_tail_ms, 64);
//! assert_eq!(profile.channel_count(), 4);
//! let conf = profile.system_conf().unwrap();
//! assert!(conf.contains("\nfxoks=1-2\n")); // DAHDI names signalling from the far end
//! assert!(conf.contains("\nfxsks=3-4\n"));
//!
//! let bad = Profile::parse("desk.toml", &text.replace("\"1-2\"", "\"1-3\"")).unwrap_err();
//! assert_eq!(
//!     bad.to_string(),
//!     "desk.toml:24:12: group[1].channels: channel 3 is already in group \"phones\""
//! );
//! ```
//!
//! ## The file
//!
//! | section | keys |
//! |---|---|
//! | `[board]` | `name`, `description`, `hardware` (`sim`, `dahdi`), `country` (`us`, `uk`, `de`, `fr`), `law` (`ulaw`, `alaw`), `caller_id` (`bell202`, `etsi-v23-dtas`, `etsi-v23-lr`, `etsi-v23-rp`, `dtmf`, `none`) |
//! | `[dahdi]` | `root` (default `/dev/dahdi`), `sysfs` (default `/sys`): absolute paths |
//! | `[[span]]` | `number`; `kind` (`analog`, `t1`, `e1`); `channels` (analog: the card's ports; T1 24, E1 31); `first_channel` (DAHDI's basechan; default: after the previous span); `framing` (T1 `d4`/`esf`, E1 `cas`/`ccs`); `coding` (T1 `ami`/`b8zs`, E1 `ami`/`hdb3`); `crc4` (E1); `lbo` 0..=7; `timing` (0 never the clock source, 1.. priority); `dchannel` (PRI: T1 channel 24, E1 timeslot 16) |
//! | `[[group]]` | `name`; `kind` (`fxs`, `fxo`, `t1`, `e1`); `channels` (`"1-4,7"` or `[1, 2]`); `span`; `signalling` (analog `kewlstart`/`loopstart`/`groundstart`; T1/E1 `clear`, `em-wink`, `fxs-loopstart`, `fxo-loopstart`); `echo_tail_ms`; `echo_canceller` (`tipring`, the default, or `hardware`: the card's) |
//! | `[sip]` | `channels`: SIP call slots on a mixed box (the trunks are in `tipring.toml`) |
//! | `[sim]` | `phones`, `trunks` (`hardware = "sim"` only) |
//!
//! Rules, each refused with file, line, column and key: unknown keys; spans listed once
//! each in ascending order, their channel ranges not overlapping; framing, coding, CRC-4,
//! LBO and timing fitting the span kind, clock priorities distinct; a D-channel at the PRI
//! slot of a span framed `esf` (T1) or `ccs` (E1); group names unique; every group channel
//! on a span of the group's kind, in at most one group, never a D-channel or an E1 CAS
//! span's timeslot 16; a T1/E1 group on one span; signalling that fits the ports and the
//! span (`clear` only on PRI spans, CAS signalling only on spans without a D-channel and
//! E1 spans framed `cas`); echo tails 0, 32, 64 or 128; a `sim` profile with `[sim]` and no
//! spans, groups or `[dahdi]`.
//!
//! ## The machine
//!
//! [`detect`] reads what the machine has (DAHDI's sysfs inventory, ALSA cards, serial
//! ports), proposes a profile for it and checks a profile against it. [`fake`] writes
//! such trees into a directory for tests.
#![deny(missing_docs)]

mod builtin;
mod channels;
pub mod detect;
mod error;
pub mod fake;
mod parse;
mod profile;
mod system_conf;
mod to_toml;

pub use builtin::builtin_text;
pub use channels::{format_list, parse_list};
pub use detect::{Inventory, Mismatch, Roots, check};
pub use error::ProfileError;
pub use profile::{
    COUNTRIES, CallerIdStandard, Coding, DahdiPaths, ECHO_TAILS_MS, EchoCanceller, Framing, Group,
    Hardware, Law, MAX_CHANNEL, MAX_SLOTS, MAX_SPAN, PortKind, Profile, Signalling, SimSection,
    SipSection, Span, SpanKind,
};
