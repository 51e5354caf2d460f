//! Tone-plan tests: the descriptors say what dsp-criteria.md §3 says.

use crate::progress::plan::*;

/// (frequencies, on/off cadence in ms) of a descriptor, for compact comparisons.
fn shape(d: &ToneDescriptor) -> (Vec<f32>, Vec<u32>) {
    let seg = d
        .segments()
        .iter()
        .find(|s| s.kind() == SegmentKind::Tone)
        .unwrap();
    (
        seg.components().iter().map(|c| c.freq_hz).collect(),
        d.segments().iter().map(|s| s.duration_ms()).collect(),
    )
}

/// dsp-criteria.md §3 tone table (Asterisk indications.conf, ITU tones-0203, BT SIN 350),
/// row by row.
#[test]
fn plans_follow_the_dsp_criteria_tone_table() {
    let rows: [(&TonePlan, &str, &[f32], &[u32]); 20] = [
        (&US, "dial", &[350.0, 440.0], &[0]),
        (&US, "ringback", &[440.0, 480.0], &[2000, 4000]),
        (&US, "busy", &[480.0, 620.0], &[500, 500]),
        (&US, "congestion", &[480.0, 620.0], &[250, 250]),
        (&US, "callwaiting", &[440.0], &[300]),
        (&UK, "dial", &[350.0, 440.0], &[0]),
        (&UK, "ringback", &[400.0, 450.0], &[400, 200, 400, 2000]),
        (&UK, "busy", &[400.0], &[375, 375]),
        (&UK, "congestion", &[400.0], &[400, 350, 225, 525]),
        (&UK, "callwaiting", &[400.0], &[100, 4000]),
        (&DE, "dial", &[425.0], &[0]),
        (&DE, "ringback", &[425.0], &[1000, 4000]),
        (&DE, "busy", &[425.0], &[480, 480]),
        (&DE, "congestion", &[425.0], &[240, 240]),
        (&DE, "callwaiting", &[425.0], &[200, 200, 200, 5000]),
        (&FR, "dial", &[440.0], &[0]),
        (&FR, "ringback", &[440.0], &[1500, 3500]),
        (&FR, "busy", &[440.0], &[500, 500]),
        (&FR, "congestion", &[440.0], &[250, 250]),
        (&FR, "callwaiting", &[440.0], &[300, 10_000]),
    ];
    for (plan, name, freqs, cadence) in rows {
        let d = plan.tone(name).unwrap();
        assert_eq!(
            shape(d),
            (freqs.to_vec(), cadence.to_vec()),
            "{} {name}",
            plan.name
        );
        let endless = !matches!((plan.name, name), ("us", "callwaiting"));
        assert_eq!(d.is_endless(), endless, "{} {name}", plan.name);
    }
    // Telcordia precise tone plan levels (dBm0 per tone).
    let lv = |d: &ToneDescriptor| d.segments()[0].components()[0].level_dbm0;
    assert_eq!(
        [
            lv(&US_DIAL),
            lv(&US_RINGBACK),
            lv(&US_BUSY),
            lv(&US_CONGESTION)
        ],
        [-13.0, -19.0, -24.0, -24.0]
    );
    // Zyxel UK profile: 350 Hz −22, 440 Hz −18.
    let uk = UK_DIAL.segments()[0].components();
    assert_eq!((uk[0].level_dbm0, uk[1].level_dbm0), (-22.0, -18.0));
}

/// ANSI T1.401 SIT causes (dsp-criteria.md §3): segment 1 913.8 S / 985.2 L, segment 2
/// 1370.6 S / 1428.5 L, segment 3 1776.7 L; S = 274 ms, L = 380 ms; −24 dBm0; and ITU
/// E.180 SIT 950/1400/1800 Hz, 330 ms, 15 ms gaps, 1 s silence.
#[test]
fn sit_descriptors_follow_t1_401_and_e180() {
    let us = [
        (&US_SIT_IC, [913.8, 1370.6, 1776.7], [274, 274, 380]),
        (&US_SIT_VC, [985.2, 1370.6, 1776.7], [380, 274, 380]),
        (&US_SIT_RO, [913.8, 1428.5, 1776.7], [274, 380, 380]),
        (&US_SIT_NC, [985.2, 1428.5, 1776.7], [380, 380, 380]),
    ];
    for (d, f, ms) in us {
        let segs = d.segments();
        assert_eq!(segs.len(), 3, "{}", d.name());
        for i in 0..3 {
            assert_eq!(segs[i].components()[0].freq_hz, f[i], "{}", d.name());
            assert_eq!(segs[i].components()[0].level_dbm0, -24.0);
            assert_eq!(segs[i].duration_ms(), ms[i], "{}", d.name());
        }
        assert!(!d.repeats());
    }
    assert_eq!(
        shape(&ITU_SIT),
        (vec![950.0], vec![330, 15, 330, 15, 330, 1000])
    );
    let f: Vec<f32> = ITU_SIT
        .segments()
        .iter()
        .flat_map(|s| s.components())
        .map(|c| c.freq_hz)
        .collect();
    assert_eq!(f, [950.0, 1400.0, 1800.0]);
    assert!(ITU_SIT.repeats());
    // Fax: T.30 CNG 1100 Hz 0.5 s / 3 s; CED 2100 Hz 3.3 s once.
    assert_eq!(shape(&FAX_CNG), (vec![1100.0], vec![500, 3000]));
    assert_eq!(shape(&FAX_CED), (vec![2100.0], vec![3300]));
    assert_eq!(
        FAX_ANSAM
            .segments()
            .iter()
            .map(|s| s.duration_ms())
            .sum::<u32>(),
        3300
    );
}

/// Lookup: every CLI name resolves in every plan (case ignored); the US SIT variants are
/// reachable by name and the US default SIT is one of them; unknown names and plans are
/// `None`.
#[test]
fn every_cli_name_resolves() {
    for name in ["us", "UK", "gb", "De", "fr"] {
        assert!(plan_by_name(name).is_some(), "{name}");
    }
    assert!(plan_by_name("xx").is_none());
    let common = [
        "dial",
        "ringback",
        "busy",
        "congestion",
        "callwaiting",
        "sit",
        "cng",
        "ced",
        "ansam",
    ];
    for plan in PLANS {
        // Every name a plan answers to is in the published list.
        for d in plan.tones() {
            assert!(
                super::super::plan::TONE_NAMES.contains(&d.name()),
                "{}",
                d.name()
            );
        }
        for name in common {
            assert!(plan.tone(name).is_some(), "{} {name}", plan.name);
        }
        assert!(plan.tone("nonsense").is_none());
        let names: Vec<_> = plan.tones().map(|d| d.name()).collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(
            dedup.len(),
            names.len(),
            "{}: names unique: {names:?}",
            plan.name
        );
    }
    for name in ["sit-ic", "sit-vc", "sit-ro", "sit-nc", "roh", "stutter"] {
        assert_eq!(US.tone(name).unwrap().name(), name);
    }
    assert!(core::ptr::eq(US.tone("sit").unwrap(), &US_SIT_IC));
    assert_eq!(US.tone("REORDER"), Some(&US_CONGESTION));
    assert_eq!(UK.tone("nu"), Some(&UK_NU));
    for plan in [&UK, &DE, &FR] {
        assert!(core::ptr::eq(plan.tone("sit").unwrap(), &ITU_SIT));
        assert!(plan.tone("sit-ic").is_none());
    }
}

/// The descriptor limits hold everywhere: ≤ 8 segments, ≤ 4 components, levels that can't
/// clip when all components peak together.
#[test]
fn descriptors_respect_limits_and_do_not_clip() {
    for plan in PLANS {
        for d in plan.tones() {
            assert!(d.segments().len() <= MAX_SEGMENTS);
            for s in d.segments() {
                assert!(s.components().len() <= MAX_COMPONENTS);
                let peak: f32 = s
                    .components()
                    .iter()
                    .map(|c| crate::level::dbm0_to_peak(c.level_dbm0))
                    .sum();
                assert!(peak < 32_767.0, "{} {}: peak {peak}", plan.name, d.name());
            }
        }
    }
}
