//! Writing a profile back as TOML (what `tipring board show` and `detect` print).

use crate::channels::format_list;
use crate::profile::*;
use std::fmt::Write as _;

/// A TOML basic string, escaped.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl Profile {
    /// The profile as TOML, every default written out, so that
    /// [`Profile::parse`] of it gives this profile back.
    pub fn to_toml(&self) -> String {
        let mut o = String::new();
        o.push_str("[board]\n");
        let _ = writeln!(o, "name = {}", quoted(&self.name));
        let _ = writeln!(o, "description = {}", quoted(&self.description));
        let _ = writeln!(o, "hardware = {}", quoted(self.hardware.as_str()));
        let _ = writeln!(o, "country = {}", quoted(&self.country));
        let _ = writeln!(o, "law = {}", quoted(self.law.as_str()));
        let _ = writeln!(o, "caller_id = {}", quoted(self.caller_id.as_str()));

        if self.hardware == Hardware::Dahdi {
            o.push_str("\n[dahdi]\n");
            let _ = writeln!(o, "root = {}", quoted(&self.dahdi.root.to_string_lossy()));
            let _ = writeln!(o, "sysfs = {}", quoted(&self.dahdi.sysfs.to_string_lossy()));
        }

        let mut next_free = 1;
        let mut prev_number = 0;
        for s in &self.spans {
            o.push_str("\n[[span]]\n");
            let _ = writeln!(o, "number = {}", s.number);
            let _ = writeln!(o, "kind = {}", quoted(s.kind.as_str()));
            if s.kind == SpanKind::Analog {
                let _ = writeln!(o, "channels = {}", s.channels);
            }
            if s.number != prev_number + 1 || s.first_channel != next_free {
                let _ = writeln!(o, "first_channel = {}", s.first_channel);
            }
            if let Some(f) = s.framing {
                let _ = writeln!(o, "framing = {}", quoted(f.as_str()));
            }
            if let Some(c) = s.coding {
                let _ = writeln!(o, "coding = {}", quoted(c.as_str()));
            }
            if s.kind == SpanKind::E1 {
                let _ = writeln!(o, "crc4 = {}", s.crc4);
            }
            if s.kind != SpanKind::Analog {
                let _ = writeln!(o, "lbo = {}", s.lbo);
                let _ = writeln!(o, "timing = {}", s.timing);
            }
            if let Some(d) = s.dchannel {
                let _ = writeln!(o, "dchannel = {d}");
            }
            next_free = s.first_channel + s.channels;
            prev_number = s.number;
        }

        for g in &self.groups {
            o.push_str("\n[[group]]\n");
            let _ = writeln!(o, "name = {}", quoted(&g.name));
            let _ = writeln!(o, "kind = {}", quoted(g.kind.as_str()));
            if let Some(s) = g.span {
                let _ = writeln!(o, "span = {s}");
            }
            let _ = writeln!(o, "channels = {}", quoted(&format_list(&g.channels)));
            let _ = writeln!(o, "signalling = {}", quoted(g.signalling.as_str()));
            let _ = writeln!(o, "echo_tail_ms = {}", g.echo_tail_ms);
            if g.echo_canceller != EchoCanceller::Tipring {
                let _ = writeln!(o, "echo_canceller = {}", quoted(g.echo_canceller.as_str()));
            }
        }

        if let Some(sip) = &self.sip {
            let _ = writeln!(o, "\n[sip]\nchannels = {}", sip.channels);
        }
        if let Some(sim) = &self.sim {
            let _ = writeln!(
                o,
                "\n[sim]\nphones = {}\ntrunks = {}",
                sim.phones, sim.trunks
            );
        }
        o
    }
}
