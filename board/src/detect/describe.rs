//! The inventory in plain words (what `tipring board detect` prints).

use super::*;
use crate::channels::format_list;
use std::fmt;

/// Span alarm bits (`DAHDI_ALARM_*`) and their names.
const ALARMS: &[(u32, &str)] = &[
    (1, "RECOVER"),
    (2, "LOOPBACK"),
    (4, "YELLOW"),
    (8, "RED"),
    (16, "BLUE"),
    (32, "NOTOPEN"),
];

fn alarms_text(a: u32) -> String {
    if a == 0 {
        return "no alarms".into();
    }
    let names: Vec<&str> = ALARMS
        .iter()
        .filter(|(bit, _)| a & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        format!("alarms {a:#x}")
    } else {
        format!("alarms {}", names.join("+"))
    }
}

impl fmt::Display for Inventory {
    /// One line per device, span, sound card and serial port, under a heading per kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bus = self.roots.sys.join("bus/dahdi_spans");
        if !self.dahdi_present {
            writeln!(f, "DAHDI: none ({} does not exist)", bus.display())?;
        } else {
            writeln!(f, "DAHDI (from {}):", self.roots.sys.display())?;
            for d in &self.devices {
                let mut parts = Vec::new();
                let what = [d.manufacturer.as_deref(), d.device_type.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                if !what.is_empty() {
                    parts.push(what);
                }
                if let Some(l) = &d.location {
                    parts.push(l.clone());
                }
                if let Some(n) = d.span_count {
                    parts.push(format!("{n} span{}", if n == 1 { "" } else { "s" }));
                }
                writeln!(f, "  device {}: {}", d.id, parts.join(", "))?;
            }
            if self.spans.is_empty() {
                writeln!(f, "  no spans")?;
            }
            for s in &self.spans {
                writeln!(f, "  {}", span_line(s))?;
            }
        }

        writeln!(
            f,
            "Sound cards (from {}):",
            self.roots.proc_.join("asound/cards").display()
        )?;
        if self.sound_cards.is_empty() {
            writeln!(f, "  none")?;
        }
        for c in &self.sound_cards {
            let mut line = format!("  card {} (hw:CARD={}): {}", c.index, c.id, c.driver);
            if !c.name.is_empty() {
                line.push_str(&format!(" - {}", c.name));
            }
            if !c.long_name.is_empty() {
                line.push_str(&format!(", {}", c.long_name));
            }
            if let Some(u) = &c.usb_id {
                line.push_str(&format!(", USB id {u}"));
            }
            writeln!(f, "{line}")?;
        }

        writeln!(f, "Serial ports (from {}):", self.roots.dev.display())?;
        if self.serial_ports.is_empty() {
            writeln!(f, "  none")?;
        }
        for p in &self.serial_ports {
            match &p.driver {
                Some(d) => writeln!(f, "  {} (driver {d})", p.path.display())?,
                None => writeln!(f, "  {}", p.path.display())?,
            }
        }
        Ok(())
    }
}

fn span_line(s: &DahdiSpan) -> String {
    let kind = match s.span_type() {
        SpanType::AnalogFxs | SpanType::AnalogFxo | SpanType::AnalogMixed => {
            format!("analog ({})", s.spantype.as_deref().unwrap_or("?"))
        }
        SpanType::T1 => "T1".into(),
        SpanType::E1 => "E1".into(),
        SpanType::Other => s.spantype.clone().unwrap_or_else(|| "unknown type".into()),
    };
    let mut parts = vec![format!("span {}: {kind}, {}", s.number, s.label())];
    match (s.basechan, s.channels) {
        (Some(b), Some(n)) if n > 0 => {
            parts.push(format!("channels {b}-{}", u64::from(b) + u64::from(n) - 1));
        }
        _ => parts.push("channels unknown".into()),
    }
    match s.span_type() {
        SpanType::AnalogFxs | SpanType::AnalogFxo | SpanType::AnalogMixed => {
            // Only spans whose numbers make sense (a corrupt sysfs could claim 4 billion
            // channels).
            if let (Some(b), Some(n)) = (s.basechan, s.channels)
                && super::propose::usable(s).is_some()
            {
                let mut fxs = Vec::new();
                let mut fxo = Vec::new();
                let mut unknown = Vec::new();
                let mut sources = Vec::new();
                for c in b..b.saturating_add(n) {
                    match s.port_kind(c) {
                        Some((k, src)) => {
                            if !sources.contains(&src) {
                                sources.push(src);
                            }
                            if k == crate::PortKind::Fxo {
                                fxo.push(c);
                            } else {
                                fxs.push(c);
                            }
                        }
                        None => unknown.push(c),
                    }
                }
                let mut ports = Vec::new();
                if !fxo.is_empty() {
                    ports.push(format!("{} FXO ports", format_list(&fxo)));
                }
                if !fxs.is_empty() {
                    ports.push(format!("{} FXS ports", format_list(&fxs)));
                }
                if !unknown.is_empty() {
                    ports.push(format!(
                        "{} ports of unknown kind (no channel sigcap in sysfs; the proposal guesses FXS)",
                        format_list(&unknown)
                    ));
                }
                if !sources.is_empty() {
                    ports.push(format!("from {}", sources.join(" and ")));
                }
                parts.push(ports.join(", "));
            }
        }
        SpanType::T1 | SpanType::E1 => {
            if let Some(a) = s.alarms {
                parts.push(alarms_text(a));
            }
            match s.lineconfig {
                Some(0) => parts.push("not configured yet (run dahdi_cfg)".into()),
                Some(lc) => parts.push(format!("lineconfig {lc:#x}")),
                None => {}
            }
            if let Some(src) = s.syncsrc.filter(|&x| x != 0) {
                parts.push(format!("clock from span {src}"));
            }
        }
        SpanType::Other => {
            parts.push("not a kind of span a profile describes; left out of the proposal".into())
        }
    }
    if super::propose::usable(s).is_none() && s.span_type() != SpanType::Other {
        parts.push("inconsistent attributes; left out of the proposal".into());
    }
    parts.join(", ")
}
