//! SDP on arbitrary bytes: a description or an error, never a panic; an offer we can answer
//! gives an answer that parses back and agrees with the negotiation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_sip::sdp::{Capabilities, Negotiated, Sdp, answer};

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = Sdp::parse(data) else {
        return;
    };
    let local = "127.0.0.1:20000".parse().unwrap();
    if let Ok((ans, neg)) = answer(&offer, local, &Capabilities::default(), 1, 1) {
        let back = Sdp::parse(ans.render().as_bytes()).expect("our answer parses");
        let again = Negotiated::from_answer(&back, &Capabilities::default()).expect("agrees");
        assert_eq!((again.codec, again.pt), (neg.codec, neg.pt));
    }
});
