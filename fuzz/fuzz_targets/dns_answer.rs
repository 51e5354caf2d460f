//! DNS answers on arbitrary bytes (what a hostile or broken name server may send): the
//! parser returns an answer or an error, never panics or loops, and ordering the SRV records
//! it found keeps every one of them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_sip::dns;

fuzz_target!(|data: &[u8]| {
    let id = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    if let Ok(answer) = dns::parse(data, id) {
        let n = answer.srv.len();
        let mut x = 1u64;
        let ordered = dns::order(answer.srv.clone(), || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            x >> 33
        });
        assert_eq!(ordered.len(), n);
        assert!(ordered.windows(2).all(|w| w[0].priority <= w[1].priority));
        for s in &answer.srv {
            let _ = answer.addresses_of(&s.target).count();
        }
    }
});
