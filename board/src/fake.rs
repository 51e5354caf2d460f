//! Fake machines for tests: sysfs, procfs and `/dev` trees written into a directory, laid
//! out as DAHDI, ALSA and the tty layer lay out the real ones, so that
//! [`Inventory::read`](crate::Inventory::read) and [`check`](crate::check) can be tested
//! (and demonstrated) without cards.
//!
//! Device nodes are written as empty regular files, as a user-space DAHDI model serves
//! them. Span directories live under `sys/devices/…/DEVICE/span-N` with the
//! `sys/bus/…/devices/` entries as symlinks to them, as in the kernel's sysfs.

use crate::detect::Roots;
use crate::profile::{PortKind, SpanKind};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// `DAHDI_SIG_*` bits used for channels' `sigcap`.
mod sig {
    pub const FXSLS: u32 = 0x2001;
    pub const FXSGS: u32 = 0x2002;
    pub const FXSKS: u32 = 0x2004;
    pub const FXOLS: u32 = 0x1008;
    pub const FXOGS: u32 = 0x1010;
    pub const FXOKS: u32 = 0x1020;
    pub const EM: u32 = 0x40;
    pub const CLEAR: u32 = 0x80;
    pub const SF: u32 = 1 << 14;
    pub const CAS: u32 = 0x8000;
    pub const EM_E1: u32 = 0x20000;
    pub const HARDHDLC: u32 = 0x80080;
}

/// `sigcap` of an analog card's FXS port (a phone plugs in): FXO signalling.
pub const SIGCAP_FXS_PORT: u32 =
    sig::FXOKS | sig::FXOLS | sig::FXOGS | sig::SF | sig::EM | sig::CLEAR;
/// `sigcap` of an analog card's FXO port (plugs into a line): FXS signalling.
pub const SIGCAP_FXO_PORT: u32 = sig::FXSKS | sig::FXSLS | sig::SF | sig::CLEAR;
/// `sigcap` of a T1/E1 channel: everything a digital channel can carry.
pub const SIGCAP_DIGITAL: u32 = sig::FXSLS
    | sig::FXSGS
    | sig::FXSKS
    | sig::FXOLS
    | sig::FXOGS
    | sig::FXOKS
    | sig::CLEAR
    | sig::CAS
    | sig::EM_E1
    | sig::HARDHDLC;

/// `linecompat` of a T1 span (D4, ESF, AMI, B8ZS).
pub const LINECOMPAT_T1: u32 = 0x10 | 0x20 | 0x40 | 0x80;
/// `linecompat` of an E1 span (AMI, CCS, HDB3, CRC-4).
pub const LINECOMPAT_E1: u32 = 0x40 | 0x100 | 0x200 | 0x400;

/// A fake machine rooted at a directory (`sys/`, `proc/`, `dev/` below it).
#[derive(Debug, Clone)]
pub struct FakeMachine {
    root: PathBuf,
}

/// A DAHDI device (a card) to write into a fake machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeDevice {
    /// Directory name, e.g. `pci:0000:02:05.0`.
    pub id: String,
    /// `manufacturer`.
    pub manufacturer: String,
    /// `type`.
    pub device_type: String,
    /// `location`.
    pub location: String,
    /// `hardware_id`.
    pub hardware_id: String,
    /// Its spans.
    pub spans: Vec<FakeSpan>,
}

/// A DAHDI span to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSpan {
    /// Span number.
    pub number: u32,
    /// `local_spanno`.
    pub local_spanno: u32,
    /// `name`.
    pub name: String,
    /// `desc`.
    pub desc: String,
    /// `spantype`.
    pub spantype: String,
    /// `basechan`.
    pub basechan: u32,
    /// Each channel's `sigcap` (the span has this many channels).
    pub sigcaps: Vec<u32>,
    /// Each channel's `name`.
    pub channel_names: Vec<String>,
    /// `alarms`.
    pub alarms: u32,
    /// `lineconfig` (0: not configured).
    pub lineconfig: u32,
    /// `linecompat`.
    pub linecompat: u32,
    /// Whether to write per-channel sysfs directories (older DAHDI has none).
    pub channel_dirs: bool,
    /// Whether to write the channels' `/dev/dahdi/chan/SSS/CCC` nodes.
    pub nodes: bool,
}

impl FakeDevice {
    /// A TDM410P-class analog card (driver wctdm24xxp) with FXO modules in ports 1-4 and
    /// FXS modules in ports 5-8: one `ANALOG_MIXED` span.
    pub fn tdm410p_4fxo_4fxs(span: u32, basechan: u32) -> FakeDevice {
        let mut ports = vec![PortKind::Fxo; 4];
        ports.extend([PortKind::Fxs; 4]);
        FakeDevice::analog(
            "pci:0000:03:00.0",
            "Wildcard TDM410P",
            "WCTDM",
            span,
            basechan,
            &ports,
        )
    }

    /// An analog card with `ports` (FXS or FXO each) as one span: `spantype` FXS, FXO or
    /// ANALOG_MIXED as the ports are; `name_stem` like `WCTDM`.
    pub fn analog(
        id: &str,
        device_type: &str,
        name_stem: &str,
        span: u32,
        basechan: u32,
        ports: &[PortKind],
    ) -> FakeDevice {
        let fxs = ports.iter().filter(|&&p| p == PortKind::Fxs).count();
        let spantype = if fxs == ports.len() {
            "FXS"
        } else if fxs == 0 {
            "FXO"
        } else {
            "ANALOG_MIXED"
        };
        FakeDevice {
            id: id.into(),
            manufacturer: "Digium".into(),
            device_type: device_type.into(),
            location: "PCI Bus 03 Slot 01".into(),
            hardware_id: String::new(),
            spans: vec![FakeSpan {
                number: span,
                local_spanno: 1,
                name: format!("{name_stem}/{}", span.saturating_sub(1)),
                desc: format!("{device_type} Board {}", span),
                spantype: spantype.into(),
                basechan,
                sigcaps: ports
                    .iter()
                    .map(|&p| {
                        if p == PortKind::Fxs {
                            SIGCAP_FXS_PORT
                        } else {
                            SIGCAP_FXO_PORT
                        }
                    })
                    .collect(),
                channel_names: (0..ports.len())
                    .map(|i| format!("{name_stem}/{}/{i}", span.saturating_sub(1)))
                    .collect(),
                alarms: 0,
                lineconfig: 0,
                linecompat: 0,
                channel_dirs: true,
                nodes: true,
            }],
        }
    }

    /// A TE410P-class quad T1/E1 card (driver wct4xxp), its four spans numbered from
    /// `first_span` with channels from `basechan`, all of `kind` (T1 or E1), not yet
    /// configured by dahdi_cfg.
    pub fn te410p(kind: SpanKind, first_span: u32, basechan: u32) -> FakeDevice {
        let (n, spantype, linecompat) = match kind {
            SpanKind::T1 => (24, "T1", LINECOMPAT_T1),
            _ => (31, "E1", LINECOMPAT_E1),
        };
        let spans = (0..4)
            .map(|i| FakeSpan {
                number: first_span + i,
                local_spanno: i + 1,
                name: format!("TE4/0/{}", i + 1),
                desc: format!("T4XXP (PCI) Card 0 Span {}", i + 1),
                spantype: spantype.into(),
                basechan: basechan + i * n,
                sigcaps: vec![SIGCAP_DIGITAL; n as usize],
                channel_names: (1..=n).map(|c| format!("TE4/0/{}/{c}", i + 1)).collect(),
                alarms: 8, // RED: no cable yet
                lineconfig: 0,
                linecompat,
                channel_dirs: true,
                nodes: true,
            })
            .collect();
        FakeDevice {
            id: "pci:0000:02:05.0".into(),
            manufacturer: "Digium".into(),
            device_type: "Wildcard TE410P/4".into(),
            location: "PCI Bus 02 Slot 05".into(),
            hardware_id: String::new(),
            spans,
        }
    }
}

/// An ALSA sound card to write: the same facts [`Inventory::read`](crate::detect::Inventory::read)
/// reads back.
pub type FakeSoundCard = crate::detect::SoundCard;

impl FakeSoundCard {
    /// A Quectel EC25's USB audio (UAC) interface.
    pub fn ec25(index: u32) -> FakeSoundCard {
        FakeSoundCard {
            index,
            id: "Android".into(),
            driver: "USB-Audio".into(),
            name: "Android".into(),
            long_name: "Quectel, Incorporated Android at usb-0000:00:14.0-3, high speed".into(),
            usb_id: Some("2c7c:0125".into()),
        }
    }
}

fn write(path: &Path, contents: &str) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, contents)
}

impl FakeMachine {
    /// Makes `root/sys`, `root/proc` and `root/dev` (no DAHDI, no cards, no ports yet).
    ///
    /// # Errors
    /// When the directories cannot be made.
    pub fn create(root: &Path) -> io::Result<FakeMachine> {
        for d in ["sys/class/tty", "proc/asound", "dev"] {
            fs::create_dir_all(root.join(d))?;
        }
        Ok(FakeMachine {
            root: root.to_path_buf(),
        })
    }

    /// The directory everything is under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The roots to read the machine from.
    pub fn roots(&self) -> Roots {
        Roots {
            sys: self.root.join("sys"),
            proc_: self.root.join("proc"),
            dev: self.root.join("dev"),
        }
    }

    /// Writes a DAHDI device: its sysfs directory with its spans (and their channels), the
    /// bus entries, and the device nodes (`dev/dahdi/{ctl,channel,pseudo,timer}` and each
    /// channel's `dev/dahdi/chan/SSS/CCC`).
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn add_dahdi_device(&self, d: &FakeDevice) -> io::Result<()> {
        let sys = self.root.join("sys");
        let dev_dir = sys.join("devices/pci0000:00").join(&d.id);
        write(
            &dev_dir.join("manufacturer"),
            &format!("{}\n", d.manufacturer),
        )?;
        write(&dev_dir.join("type"), &format!("{}\n", d.device_type))?;
        write(&dev_dir.join("span_count"), &format!("{}\n", d.spans.len()))?;
        write(
            &dev_dir.join("hardware_id"),
            &format!("{}\n", d.hardware_id),
        )?;
        write(&dev_dir.join("location"), &format!("{}\n", d.location))?;
        let spantypes: String = d
            .spans
            .iter()
            .map(|s| format!("{}:{}\n", s.local_spanno, s.spantype))
            .collect();
        write(&dev_dir.join("spantype"), &spantypes)?;
        link(&dev_dir, &sys.join("bus/dahdi_devices/devices").join(&d.id))?;

        let dahdi = self.root.join("dev/dahdi");
        for n in ["ctl", "channel", "pseudo", "timer"] {
            write(&dahdi.join(n), "")?;
        }
        for s in &d.spans {
            let sd = dev_dir.join(format!("span-{}", s.number));
            let digital = !s.spantype.starts_with("FX") && s.spantype != "ANALOG_MIXED";
            for (name, value) in [
                ("name", s.name.clone()),
                ("desc", s.desc.clone()),
                ("spantype", s.spantype.clone()),
                ("local_spanno", s.local_spanno.to_string()),
                ("alarms", format!("{:#x}", s.alarms)),
                ("lbo", "0".into()),
                ("syncsrc", "0".into()),
                ("is_digital", u8::from(digital).to_string()),
                ("is_sync_master", "0".into()),
                ("basechan", s.basechan.to_string()),
                ("channels", s.sigcaps.len().to_string()),
                ("lineconfig", format!("{:#x}", s.lineconfig)),
                ("linecompat", format!("{:#x}", s.linecompat)),
            ] {
                write(&sd.join(name), &format!("{value}\n"))?;
            }
            link(
                &sd,
                &sys.join("bus/dahdi_spans/devices")
                    .join(format!("span-{}", s.number)),
            )?;
            for (i, cap) in s.sigcaps.iter().enumerate() {
                let pos = i as u32 + 1;
                let channo = s.basechan + i as u32;
                if s.channel_dirs {
                    let cd = sd.join(format!("dahdi!chan!{:03}!{pos:03}", s.number));
                    let name = s.channel_names.get(i).cloned().unwrap_or_default();
                    for (attr, value) in [
                        ("name", name),
                        ("channo", channo.to_string()),
                        ("chanpos", pos.to_string()),
                        ("sigcap", format!("{cap:#x}")),
                        ("sig", "Unconfigured".into()),
                        ("alarms", String::new()),
                        ("blocksize", "8".into()),
                        ("in_use", "0".into()),
                    ] {
                        write(&cd.join(attr), &format!("{value}\n"))?;
                    }
                }
                if s.nodes {
                    write(&dahdi.join(format!("chan/{:03}/{pos:03}", s.number)), "")?;
                }
            }
        }
        Ok(())
    }

    /// Adds a sound card to `proc/asound/cards` (with `cardN/usbid` for USB cards) and its
    /// control node `dev/snd/controlCN`.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn add_sound_card(&self, c: &FakeSoundCard) -> io::Result<()> {
        let cards = self.root.join("proc/asound/cards");
        let mut text = fs::read_to_string(&cards).unwrap_or_default();
        if text.starts_with("--- no soundcards ---") {
            text.clear();
        }
        text.push_str(&format!(
            "{:2} [{:<15}]: {} - {}\n                      {}\n",
            c.index, c.id, c.driver, c.name, c.long_name
        ));
        write(&cards, &text)?;
        let card_dir = self.root.join(format!("proc/asound/card{}", c.index));
        write(&card_dir.join("id"), &format!("{}\n", c.id))?;
        if let Some(u) = &c.usb_id {
            write(&card_dir.join("usbid"), &format!("{u}\n"))?;
        }
        write(&self.root.join(format!("dev/snd/controlC{}", c.index)), "")
    }

    /// Adds a serial port `dev/NAME` (e.g. `ttyUSB2`), with its tty class entry and, if
    /// given, the driver bound to it.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn add_serial_port(&self, name: &str, driver: Option<&str>) -> io::Result<()> {
        write(&self.root.join("dev").join(name), "")?;
        let class = self.root.join("sys/class/tty").join(name);
        fs::create_dir_all(&class)?;
        if name.starts_with("ttyS") {
            write(&class.join("type"), "4\n")?; // PORT_16550A
        }
        if let Some(d) = driver {
            let drv = self.root.join("sys/bus/usb-serial/drivers").join(d);
            fs::create_dir_all(&drv)?;
            fs::create_dir_all(class.join("device"))?;
            link(&drv, &class.join("device/driver"))?;
        }
        Ok(())
    }
}

/// A symlink `at` → `target` (replacing an old one).
fn link(target: &Path, at: &Path) -> io::Result<()> {
    if let Some(dir) = at.parent() {
        fs::create_dir_all(dir)?;
    }
    let _ = fs::remove_file(at);
    std::os::unix::fs::symlink(target, at)
}
