//! Reading the inventory from sysfs, procfs and the device directory.

use super::*;
use std::fs;

/// An attribute file's contents, trimmed; `None` if missing, unreadable or not UTF-8.
fn attr(dir: &Path, name: &str) -> Option<String> {
    let text = fs::read_to_string(dir.join(name)).ok()?;
    Some(text.trim_end_matches(['\n', '\r', ' ', '\t']).to_string())
}

/// A number attribute: decimal or `0x` hexadecimal (DAHDI writes `alarms` as hex).
fn attr_u32(dir: &Path, name: &str) -> Option<u32> {
    parse_u32(attr(dir, name)?.trim())
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Directory entries' names, sorted; empty if the directory cannot be read.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

pub(super) fn read(roots: &Roots) -> Inventory {
    let spans_dir = roots.sys.join("bus/dahdi_spans/devices");
    let devices_dir = roots.sys.join("bus/dahdi_devices/devices");
    let dahdi_present = roots.sys.join("bus/dahdi_spans").is_dir();

    let mut devices = Vec::new();
    // Span directory name → device id, from the spans found below each device.
    let mut span_owner: Vec<(u32, String)> = Vec::new();
    for id in entries(&devices_dir) {
        let dir = devices_dir.join(&id);
        let mut spans: Vec<u32> = entries(&dir)
            .iter()
            .filter_map(|n| n.strip_prefix("span-")?.parse().ok())
            .collect();
        spans.sort_unstable();
        for &s in &spans {
            span_owner.push((s, id.clone()));
        }
        devices.push(DahdiDevice {
            manufacturer: attr(&dir, "manufacturer"),
            device_type: attr(&dir, "type"),
            span_count: attr_u32(&dir, "span_count"),
            hardware_id: attr(&dir, "hardware_id"),
            location: attr(&dir, "location"),
            spans,
            id,
        });
    }

    let mut spans = Vec::new();
    for entry in entries(&spans_dir) {
        let Some(number) = entry
            .strip_prefix("span-")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = spans_dir.join(&entry);
        let mut channel_info: Vec<DahdiChannel> = entries(&dir)
            .iter()
            .map(|n| dir.join(n))
            .filter(|d| d.join("channo").is_file())
            .filter_map(|d| {
                Some(DahdiChannel {
                    channo: attr_u32(&d, "channo")?,
                    chanpos: attr_u32(&d, "chanpos"),
                    name: attr(&d, "name"),
                    sigcap: attr_u32(&d, "sigcap"),
                    sig: attr(&d, "sig"),
                })
            })
            .collect();
        channel_info.sort_by_key(|c| c.channo);
        spans.push(DahdiSpan {
            number,
            name: attr(&dir, "name"),
            desc: attr(&dir, "desc"),
            spantype: attr(&dir, "spantype"),
            alarms: attr_u32(&dir, "alarms"),
            lbo: attr_u32(&dir, "lbo"),
            syncsrc: attr_u32(&dir, "syncsrc"),
            is_digital: attr_u32(&dir, "is_digital").map(|v| v != 0),
            basechan: attr_u32(&dir, "basechan"),
            channels: attr_u32(&dir, "channels"),
            lineconfig: attr_u32(&dir, "lineconfig"),
            linecompat: attr_u32(&dir, "linecompat"),
            local_spanno: attr_u32(&dir, "local_spanno"),
            device: span_owner
                .iter()
                .find(|(s, _)| *s == number)
                .map(|(_, id)| id.clone()),
            channel_info,
        });
    }
    spans.sort_by_key(|s| s.number);

    Inventory {
        roots: roots.clone(),
        dahdi_present,
        devices,
        spans,
        sound_cards: sound_cards(&roots.proc_),
        serial_ports: serial_ports(roots),
    }
}

/// Parses `PROC/asound/cards`:
///
/// ```text
///  1 [Device         ]: USB-Audio - USB Audio Device
///                       C-Media Electronics Inc. USB Audio Device at usb-0000:00:14.0-2, full speed
/// ```
fn sound_cards(proc_: &Path) -> Vec<SoundCard> {
    let Ok(text) = fs::read_to_string(proc_.join("asound/cards")) else {
        return Vec::new();
    };
    let mut cards: Vec<SoundCard> = Vec::new();
    for line in text.lines() {
        if let Some(card) = card_line(line) {
            let usb_id = attr(&proc_.join(format!("asound/card{}", card.index)), "usbid");
            cards.push(SoundCard { usb_id, ..card });
        } else if let Some(last) = cards.last_mut()
            && last.long_name.is_empty()
            && line.starts_with(' ')
        {
            last.long_name = line.trim().to_string();
        }
    }
    cards
}

fn card_line(line: &str) -> Option<SoundCard> {
    let line = line.trim_start();
    let (index, rest) = line.split_once(' ')?;
    let index: u32 = index.parse().ok()?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (id, rest) = rest.split_once(']')?;
    let rest = rest.trim_start().strip_prefix(':')?.trim();
    let (driver, name) = rest.split_once(" - ").unwrap_or((rest, ""));
    Some(SoundCard {
        index,
        id: id.trim().to_string(),
        driver: driver.trim().to_string(),
        name: name.trim().to_string(),
        long_name: String::new(),
        usb_id: None,
    })
}

/// `DEV/ttyUSB*`, `ttyACM*` and `ttyS*` that exist; a `ttyS` whose sysfs `type` is 0 (no
/// UART behind it, as on most PCs for ttyS1–31) is left out.
fn serial_ports(roots: &Roots) -> Vec<SerialPort> {
    let mut ports = Vec::new();
    for name in entries(&roots.dev) {
        let Some(suffix) = ["ttyUSB", "ttyACM", "ttyS"]
            .iter()
            .find_map(|p| name.strip_prefix(p))
        else {
            continue;
        };
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let class = roots.sys.join("class/tty").join(&name);
        if name.starts_with("ttyS") && attr_u32(&class, "type") == Some(0) {
            continue;
        }
        let driver = fs::read_link(class.join("device/driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        ports.push(SerialPort {
            path: roots.dev.join(&name),
            driver,
        });
    }
    // ttyS2 before ttyS10.
    ports.sort_by_key(|p| {
        let name = p
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
        let (stem, num) = name.split_at(name.len() - digits);
        (stem.to_string(), num.parse::<u32>().unwrap_or(u32::MAX))
    });
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_card_lines() {
        assert_eq!(parse_u32("0x1c"), Some(28));
        assert_eq!(parse_u32("12"), Some(12));
        assert_eq!(parse_u32("x"), None);
        let c = card_line(" 1 [Device         ]: USB-Audio - USB Audio Device").unwrap();
        assert_eq!((c.index, c.id.as_str()), (1, "Device"));
        assert_eq!(
            (c.driver.as_str(), c.name.as_str()),
            ("USB-Audio", "USB Audio Device")
        );
        assert!(card_line("--- no soundcards ---").is_none());
        assert!(card_line("").is_none());
    }
}
