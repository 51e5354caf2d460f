//! SIP messages on arbitrary bytes: the pre-parser, the parser and the whole user agent core
//! take any datagram without panicking; a stream split anywhere frames the same messages as
//! the datagram; no request leaves more than a bounded number of responses behind; and the
//! framed messages fed to the core as TCP input are never answered twice.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_sip::frame::{Framed, Limits, StreamFramer};
use tipring_sip::msg;
use tipring_sip::ua::{Config, Ua};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let parsed = msg::parse(data, &limits);
    let mut ua = Ua::new(Config::new("127.0.0.1:5060".parse().unwrap()), 7);
    ua.handle_datagram(0, "127.0.0.1:5061".parse().unwrap(), data);
    ua.handle_timeout(64_000);
    let mut n = 0;
    while ua.poll_transmit().is_some() {
        n += 1;
    }
    assert!(n <= 16, "{n} datagrams for one input");
    while ua.poll_event().is_some() {}
    // A stream delivering the same bytes in two pieces frames what one piece frames.
    let split = data.len() / 3;
    let mut whole = StreamFramer::new();
    whole.push(data);
    let mut parts = StreamFramer::new();
    parts.push(&data[..split]);
    let mut a = Vec::new();
    while let Ok(Some(Framed::Message(m))) = parts.pop(&limits) {
        a.push(m);
    }
    parts.push(&data[split..]);
    while let Ok(Some(f)) = parts.pop(&limits) {
        if let Framed::Message(m) = f {
            a.push(m);
        }
    }
    let mut b = Vec::new();
    while let Ok(Some(f)) = whole.pop(&limits) {
        if let Framed::Message(m) = f {
            b.push(m);
        }
    }
    // The same messages arriving over TCP: no panic, no retransmission afterwards.
    let mut tcp = Ua::new(Config::new("127.0.0.1:5060".parse().unwrap()), 8);
    for m in &b {
        tcp.handle_stream(0, "127.0.0.1:5061".parse().unwrap(), m.clone());
    }
    let first: usize = std::iter::from_fn(|| tcp.poll_transmit()).count();
    tcp.handle_timeout(1_000);
    let later: usize = std::iter::from_fn(|| tcp.poll_transmit()).count();
    assert!(first <= 16 * b.len().max(1));
    assert_eq!(later, 0, "nothing is repeated over TCP");
    while tcp.poll_event().is_some() {}
    if b.len() <= a.len() {
        assert_eq!(&a[..b.len()], &b[..]);
    }
    let _ = parsed;
});
