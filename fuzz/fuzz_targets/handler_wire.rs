//! The handler-host protocol on arbitrary datagrams, both directions: a message or a
//! precise error, never a panic; a message accepted encodes back to a datagram that decodes
//! to the same message; every request tipringd would act on passes or fails the same
//! check the in-process host table applies, without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_wire::{self as wire, FromHost};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = wire::decode(data) {
        let again = wire::encode(&m).expect("a decoded message encodes");
        assert_eq!(wire::decode(&again).expect("and decodes again"), m);
        if let FromHost::Done { requests, .. } = &m {
            for (_, r) in requests {
                let _ = wire::check_request(r);
            }
        }
    }
    if let Ok(m) = wire::decode_to_host(data) {
        let again = wire::encode(&m).expect("a decoded message encodes");
        assert_eq!(wire::decode_to_host(&again).expect("and decodes again"), m);
    }
});
