//! A profile proposed for what the machine has.

use super::*;
use crate::profile::*;

/// Whether a detected span can go into a proposal, and as what.
pub(super) fn usable(s: &DahdiSpan) -> Option<SpanKind> {
    let kind = match s.span_type() {
        SpanType::AnalogFxs | SpanType::AnalogFxo | SpanType::AnalogMixed => SpanKind::Analog,
        SpanType::T1 => SpanKind::T1,
        SpanType::E1 => SpanKind::E1,
        SpanType::Other => return None,
    };
    let (Some(base), Some(n)) = (s.basechan, s.channels) else {
        return None;
    };
    let fits = match kind.fixed_channels() {
        Some(fixed) => n == fixed,
        None => (1..=MAX_CHANNEL).contains(&n),
    };
    (fits
        && base >= 1
        && u64::from(base) + u64::from(n) - 1 <= u64::from(MAX_CHANNEL)
        && (1..=MAX_SPAN).contains(&s.number))
    .then_some(kind)
}

impl Inventory {
    /// A profile for what was found: each analog span's FXS ports in a group `phones` and
    /// FXO ports in `lines` (kewlstart), each T1/E1 span as a PRI (T1 ESF/B8ZS with
    /// D-channel 24, E1 CCS/HDB3/CRC-4 with D-channel in timeslot 16, clock priorities in
    /// span order) with its B-channels in a group `priN`; the simulated board (4 phones,
    /// 4 trunks) when there is no usable DAHDI span. Spans of other types (BRI, J1,
    /// dynamic) are left out. The country, law and caller ID are guesses (`us` and Bell
    /// 202 unless there are E1 spans, then `uk`): set them for the site.
    pub fn propose(&self) -> Profile {
        let mut spans: Vec<Span> = Vec::new();
        let mut groups: Vec<Group> = Vec::new();
        let mut next_free = 1;
        let mut timing = 0u8;
        let analog_spans = self
            .spans
            .iter()
            .filter(|s| usable(s) == Some(SpanKind::Analog))
            .count();
        for s in &self.spans {
            let Some(kind) = usable(s) else { continue };
            let (Some(base), Some(n)) = (s.basechan, s.channels) else {
                continue;
            };
            if base < next_free {
                continue; // overlaps an earlier span: sysfs is inconsistent
            }
            next_free = base + n;
            let mut span = Span {
                number: s.number,
                kind,
                framing: None,
                coding: None,
                crc4: false,
                lbo: 0,
                timing: 0,
                dchannel: None,
                channels: n,
                first_channel: base,
            };
            match kind {
                SpanKind::Analog => {
                    let suffix = if analog_spans > 1 {
                        format!("-{}", s.number)
                    } else {
                        String::new()
                    };
                    let mut phones = Vec::new();
                    let mut lines = Vec::new();
                    for c in base..base + n {
                        match s.port_kind(c) {
                            Some((PortKind::Fxo, _)) => lines.push(c),
                            // FXS, or unknown (a mixed card without channel attributes):
                            // the describe text says it is a guess.
                            _ => phones.push(c),
                        }
                    }
                    for (name, kind, channels) in [
                        ("lines", PortKind::Fxo, lines),
                        ("phones", PortKind::Fxs, phones),
                    ] {
                        if !channels.is_empty() {
                            groups.push(Group {
                                name: format!("{name}{suffix}"),
                                kind,
                                channels,
                                span: Some(s.number),
                                signalling: Signalling::Kewlstart,
                                echo_tail_ms: 64,
                                echo_canceller: EchoCanceller::Tipring,
                            });
                        }
                    }
                }
                SpanKind::T1 | SpanKind::E1 => {
                    let t1 = kind == SpanKind::T1;
                    timing = timing.saturating_add(1);
                    span.timing = timing;
                    span.framing = Some(if t1 { Framing::Esf } else { Framing::Ccs });
                    span.coding = Some(if t1 { Coding::B8zs } else { Coding::Hdb3 });
                    span.crc4 = !t1;
                    let d = if t1 { base + 23 } else { base + 15 };
                    span.dchannel = Some(d);
                    groups.push(Group {
                        name: format!("pri{}", s.number),
                        kind: if t1 { PortKind::T1 } else { PortKind::E1 },
                        channels: (base..base + n).filter(|&c| c != d).collect(),
                        span: Some(s.number),
                        signalling: Signalling::Clear,
                        echo_tail_ms: 0,
                        echo_canceller: EchoCanceller::Tipring,
                    });
                }
            }
            spans.push(span);
        }

        if spans.is_empty() {
            return Profile {
                name: "detected".into(),
                description: "Proposed by `tipring board detect`: no DAHDI spans found, so the simulated board".into(),
                hardware: Hardware::Sim,
                country: "us".into(),
                law: Law::Ulaw,
                caller_id: CallerIdStandard::Bell202,
                dahdi: DahdiPaths::default(),
                spans: Vec::new(),
                groups: Vec::new(),
                sip: None,
                sim: Some(SimSection {
                    phones: 4,
                    trunks: 4,
                }),
            };
        }

        let e1 = spans.iter().any(|s| s.kind == SpanKind::E1);
        let t1 = spans.iter().any(|s| s.kind == SpanKind::T1);
        let analog = spans.iter().any(|s| s.kind == SpanKind::Analog);
        let country = if e1 && !t1 { "uk" } else { "us" };
        let caller_id = match (analog, country) {
            (false, _) => CallerIdStandard::None,
            (true, "us") => CallerIdStandard::Bell202,
            (true, _) => CallerIdStandard::EtsiV23Lr,
        };
        let summary: Vec<String> = spans
            .iter()
            .map(|s| match s.kind {
                SpanKind::Analog => format!("span {} analog ({} ports)", s.number, s.channels),
                k => format!("span {} {} PRI", s.number, k.label()),
            })
            .collect();
        Profile {
            name: "detected".into(),
            description: format!(
                "Proposed by `tipring board detect`: {}; check country, caller_id and the groups",
                summary.join(", ")
            ),
            hardware: Hardware::Dahdi,
            country: country.into(),
            law: Law::default_for(country),
            caller_id,
            dahdi: DahdiPaths {
                root: absolute(self.roots.dahdi_root(Path::new("/dev/dahdi"))),
                sysfs: absolute(self.roots.sys.clone()),
            },
            spans,
            groups,
            sip: None,
            sim: None,
        }
    }
}

/// `path` made absolute against the working directory (profiles take absolute paths).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
