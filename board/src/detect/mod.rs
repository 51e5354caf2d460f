//! What the machine has: DAHDI devices, spans and channels from sysfs, ALSA sound cards
//! from `/proc/asound`, serial ports from `/dev`; a profile proposed for it
//! ([`Inventory::propose`]); a profile checked against it ([`check`]).
//!
//! Everything is read from files under three roots ([`Roots`]), so a test or a FUSE model
//! can stand in for the real `/sys`, `/proc` and `/dev`. Missing files are tolerated: a
//! machine without DAHDI has an inventory without spans. Device nodes are checked for
//! existence only, never for being character devices (a user-space DAHDI model serves
//! regular files).
//!
//! ```
//! use tipring_board::detect::{Inventory, Roots};
//! use tipring_board::fake::{FakeDevice, FakeMachine};
//!
//! let dir = std::env::temp_dir().join(format!("tipring-board-doc-{}", std::process::id()));
//! let machine = FakeMachine::create(&dir).unwrap();
//! machine.add_dahdi_device(&FakeDevice::tdm410p_4fxo_4fxs(1, 1)).unwrap();
//! let inv = Inventory::read(&machine.roots());
//! assert_eq!(inv.spans.len(), 1);
//! let proposed = inv.propose();
//! assert_eq!(proposed.groups.len(), 2);
//! assert!(tipring_board::check(&proposed, &inv, &machine.roots()).is_empty());
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod check;
mod describe;
mod propose;
mod read;

pub use check::{Mismatch, check};

use crate::profile::PortKind;
use std::path::{Path, PathBuf};

/// Where the machine's `/sys`, `/proc` and `/dev` are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// sysfs (default `/sys`).
    pub sys: PathBuf,
    /// procfs (default `/proc`).
    pub proc_: PathBuf,
    /// The device directory (default `/dev`).
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys: PathBuf::from("/sys"),
            proc_: PathBuf::from("/proc"),
            dev: PathBuf::from("/dev"),
        }
    }
}

impl Roots {
    /// Where a profile's DAHDI root is on this machine: a root under `/dev` moves with
    /// [`dev`](Self::dev) (`/dev/dahdi` with `dev = /tmp/x/dev` is `/tmp/x/dev/dahdi`);
    /// any other root (a FUSE mount point) stays as it is.
    pub fn dahdi_root(&self, profile_root: &Path) -> PathBuf {
        match profile_root.strip_prefix("/dev") {
            Ok(rest) => self.dev.join(rest),
            Err(_) => profile_root.to_path_buf(),
        }
    }
}

/// What was found on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// Where it was read from.
    pub roots: Roots,
    /// Whether DAHDI's span bus (`SYS/bus/dahdi_spans`) exists, i.e. the dahdi module is
    /// loaded (or a model serves its sysfs).
    pub dahdi_present: bool,
    /// DAHDI devices (cards), `SYS/bus/dahdi_devices/devices/*`.
    pub devices: Vec<DahdiDevice>,
    /// DAHDI spans in span number order, `SYS/bus/dahdi_spans/devices/span-N`.
    pub spans: Vec<DahdiSpan>,
    /// ALSA sound cards, `PROC/asound/cards`.
    pub sound_cards: Vec<SoundCard>,
    /// Serial ports, `DEV/ttyUSB*`, `ttyACM*`, `ttyS*`.
    pub serial_ports: Vec<SerialPort>,
}

/// A DAHDI device (one card or USB unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DahdiDevice {
    /// The sysfs directory name, e.g. `pci:0000:02:05.0`.
    pub id: String,
    /// `manufacturer`, e.g. `Digium`.
    pub manufacturer: Option<String>,
    /// `type`, e.g. `Wildcard TE410P/4`.
    pub device_type: Option<String>,
    /// `span_count`.
    pub span_count: Option<u32>,
    /// `hardware_id` (a serial number, may be empty).
    pub hardware_id: Option<String>,
    /// `location`, e.g. `PCI Bus 02 Slot 05`.
    pub location: Option<String>,
    /// Spans of this device found below it (span numbers).
    pub spans: Vec<u32>,
}

/// A DAHDI span: one T1/E1 port or a whole analog card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DahdiSpan {
    /// The span number (from the directory name `span-N`).
    pub number: u32,
    /// `name`, e.g. `TE4/0/1` or `WCTDM/0`.
    pub name: Option<String>,
    /// `desc`, e.g. `T4XXP (PCI) Card 0 Span 1`.
    pub desc: Option<String>,
    /// `spantype`: `FXS FXO ANALOG_MIXED E1 T1 J1 BRI_NT BRI_TE BRI_SOFT DYNAMIC`.
    pub spantype: Option<String>,
    /// `alarms` bit mask (0 = none; `RED` 8, `YELLOW` 4, `BLUE` 16 …).
    pub alarms: Option<u32>,
    /// `lbo`.
    pub lbo: Option<u32>,
    /// `syncsrc`: the span DAHDI takes its clock from (0: internal).
    pub syncsrc: Option<u32>,
    /// `is_digital`.
    pub is_digital: Option<bool>,
    /// `basechan`: the span's first channel number.
    pub basechan: Option<u32>,
    /// `channels`: how many channels it has.
    pub channels: Option<u32>,
    /// `lineconfig`: configured framing/coding bits (0 until dahdi_cfg ran).
    pub lineconfig: Option<u32>,
    /// `linecompat`: framing/coding the hardware supports.
    pub linecompat: Option<u32>,
    /// `local_spanno`: the span's number on its device.
    pub local_spanno: Option<u32>,
    /// The device it belongs to (its [`DahdiDevice::id`]).
    pub device: Option<String>,
    /// Per-channel attributes, when sysfs has channel directories under the span.
    pub channel_info: Vec<DahdiChannel>,
}

/// A channel as sysfs describes it (a `dahdi!chan!SSS!CCC` directory under its span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DahdiChannel {
    /// `channo`: the DAHDI channel number.
    pub channo: u32,
    /// `chanpos`: position on the span (1-based).
    pub chanpos: Option<u32>,
    /// `name`, e.g. `WCTDM/0/0`.
    pub name: Option<String>,
    /// `sigcap`: signalling the channel's hardware can do (a `DAHDI_SIG_*` mask).
    pub sigcap: Option<u32>,
    /// `sig`: the configured signalling (`FXOKS`, `Clear`, … or `Unconfigured`).
    pub sig: Option<String>,
}

/// `DAHDI_SIG_FXO`: the channel can do FXO signalling, i.e. it is an FXS port.
const SIG_FXO: u32 = 1 << 12;
/// `DAHDI_SIG_FXS`: the channel can do FXS signalling, i.e. it is an FXO port.
const SIG_FXS: u32 = 1 << 13;

impl DahdiChannel {
    /// The port kind the channel's `sigcap` shows: FXO signalling only → an FXS port, FXS
    /// signalling only → an FXO port; `None` for digital channels (both) or unknown.
    pub fn port_kind(&self) -> Option<PortKind> {
        let cap = self.sigcap?;
        match (cap & SIG_FXO != 0, cap & SIG_FXS != 0) {
            (true, false) => Some(PortKind::Fxs),
            (false, true) => Some(PortKind::Fxo),
            _ => None,
        }
    }
}

/// What a span's `spantype` says it is, in profile terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanType {
    /// `FXS`: every port is an FXS port.
    AnalogFxs,
    /// `FXO`: every port is an FXO port.
    AnalogFxo,
    /// `ANALOG_MIXED`: FXS and FXO ports.
    AnalogMixed,
    /// `T1`.
    T1,
    /// `E1`.
    E1,
    /// Anything else (`J1`, `BRI_*`, `DYNAMIC`, unknown or missing).
    Other,
}

impl DahdiSpan {
    /// The span's type.
    pub fn span_type(&self) -> SpanType {
        match self.spantype.as_deref() {
            Some("FXS") => SpanType::AnalogFxs,
            Some("FXO") => SpanType::AnalogFxo,
            Some("ANALOG_MIXED") => SpanType::AnalogMixed,
            Some("T1") => SpanType::T1,
            Some("E1") => SpanType::E1,
            _ => SpanType::Other,
        }
    }

    /// `channel`'s port kind: from its sysfs `sigcap` if there is one, else from the
    /// span's `spantype` (FXS or FXO spans), with a word for where it came from.
    pub fn port_kind(&self, channel: u32) -> Option<(PortKind, &'static str)> {
        if let Some(k) = self
            .channel_info
            .iter()
            .find(|c| c.channo == channel)
            .and_then(DahdiChannel::port_kind)
        {
            return Some((k, "sigcap"));
        }
        match self.span_type() {
            SpanType::AnalogFxs => Some((PortKind::Fxs, "spantype FXS")),
            SpanType::AnalogFxo => Some((PortKind::Fxo, "spantype FXO")),
            _ => None,
        }
    }

    /// `name "desc"`, to tell the operator which span this is.
    pub fn label(&self) -> String {
        match (&self.name, &self.desc) {
            (Some(n), Some(d)) => format!("{n} {d:?}"),
            (Some(n), None) => n.clone(),
            (None, Some(d)) => format!("{d:?}"),
            (None, None) => format!("span-{}", self.number),
        }
    }
}

/// An ALSA sound card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoundCard {
    /// Card index (`hw:N`; not stable across boots, name cards by id).
    pub index: u32,
    /// The card id (`hw:CARD=id`), pinned by a udev rule on an appliance.
    pub id: String,
    /// Driver, e.g. `USB-Audio`.
    pub driver: String,
    /// Short name.
    pub name: String,
    /// Long name (the line below), e.g. the USB vendor and bus position.
    pub long_name: String,
    /// `cardN/usbid` (`vvvv:pppp`) for USB cards.
    pub usb_id: Option<String>,
}

/// A serial port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialPort {
    /// Its device path, e.g. `/dev/ttyUSB2`.
    pub path: PathBuf,
    /// The driver bound to it, from `SYS/class/tty/NAME/device/driver`, if known.
    pub driver: Option<String>,
}

impl Inventory {
    /// Reads everything under `roots`; what is missing stays empty.
    pub fn read(roots: &Roots) -> Inventory {
        read::read(roots)
    }

    /// The span numbered `number`.
    pub fn span(&self, number: u32) -> Option<&DahdiSpan> {
        self.spans.iter().find(|s| s.number == number)
    }

    /// The device a span belongs to.
    pub fn device_of(&self, span: &DahdiSpan) -> Option<&DahdiDevice> {
        let id = span.device.as_ref()?;
        self.devices.iter().find(|d| &d.id == id)
    }
}
