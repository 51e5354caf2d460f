//! Board profiles on arbitrary text: a profile or an error with its place, never a panic; a
//! profile accepted writes back (`to_toml`) as text that parses to the same profile, and
//! a DAHDI profile's `system.conf` is made without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_board::{Hardware, Profile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Profile::parse("fuzz.toml", text) else {
        return;
    };
    let back = Profile::parse("back.toml", &p.to_toml()).expect("a profile writes back as one");
    assert_eq!(back, p);
    if p.hardware == Hardware::Dahdi {
        let _ = p.system_conf();
    }
});
