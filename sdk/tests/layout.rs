//! The Rust mirrors in `sys` match the C header as a C compiler lays it out: every field's
//! offset and every struct's size and alignment, and every constant. A C program including
//! `include/tipring/handler.h` prints what the compiler computed; the test compares it with
//! `offset_of!`/`size_of` here. Needs a C compiler (`cc`).

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::Path;
use std::process::Command;
use tipring_handler::sys::*;

macro_rules! fields {
    ($out:ident, $t:ident { $($f:ident),* }) => {{
        $out.insert(format!("{}.size", stringify!($t)), size_of::<$t>());
        $out.insert(format!("{}.align", stringify!($t)), align_of::<$t>());
        $( $out.insert(format!("{}.{}", stringify!($t), stringify!($f)), offset_of!($t, $f)); )*
        (stringify!($t), vec![$(stringify!($f)),*])
    }};
}

#[test]
fn rust_mirrors_match_the_c_header() {
    let mut rust = BTreeMap::new();
    let structs = vec![
        fields!(rust, tipring_str { ptr, len }),
        fields!(
            rust,
            tipring_event {
                struct_size,
                kind,
                op,
                result,
                cause,
                digits,
                detail_json,
                wake_token,
                mono_ns
            }
        ),
        fields!(
            rust,
            tipring_collect_opts {
                struct_size,
                max_digits,
                term_digits,
                first_digit_ms,
                inter_digit_ms,
                total_ms,
                flush_typeahead
            }
        ),
        fields!(
            rust,
            tipring_play_opts {
                struct_size,
                barge_in,
                loops,
                collect
            }
        ),
        fields!(
            rust,
            tipring_record_opts {
                struct_size,
                max_ms,
                final_silence_ms,
                term_digits,
                beep
            }
        ),
        fields!(
            rust,
            tipring_host_api {
                struct_size,
                abi_major,
                abi_minor,
                answer,
                hangup,
                originate,
                bridge,
                transfer,
                play,
                collect_digits,
                record,
                stop,
                send_dtmf,
                set_timer,
                get_var,
                set_var,
                log,
                wake
            }
        ),
        fields!(
            rust,
            tipring_handler_vtable {
                struct_size,
                abi_major,
                abi_minor,
                name,
                version,
                caps,
                init,
                shutdown,
                instance_create,
                on_event,
                instance_destroy
            }
        ),
    ];
    let consts: Vec<(&str, u64)> = vec![
        ("TIPRING_ABI_MAJOR", u64::from(TIPRING_ABI_MAJOR)),
        ("TIPRING_ABI_MINOR", u64::from(TIPRING_ABI_MINOR)),
        ("TIPRING_OK", u64::from(TIPRING_OK)),
        ("TIPRING_EINVAL", u64::from(TIPRING_EINVAL)),
        ("TIPRING_EGONE", u64::from(TIPRING_EGONE)),
        ("TIPRING_EBUSY", u64::from(TIPRING_EBUSY)),
        ("TIPRING_EUNSUPPORTED", u64::from(TIPRING_EUNSUPPORTED)),
        ("TIPRING_ELIMIT", u64::from(TIPRING_ELIMIT)),
        ("TIPRING_EINTERNAL", u64::from(TIPRING_EINTERNAL)),
        ("TIPRING_ECONTEXT", u64::from(TIPRING_ECONTEXT)),
        ("TIPRING_EV_OFFER", u64::from(TIPRING_EV_OFFER)),
        ("TIPRING_EV_ANSWERED", u64::from(TIPRING_EV_ANSWERED)),
        ("TIPRING_EV_OP_COMPLETE", u64::from(TIPRING_EV_OP_COMPLETE)),
        ("TIPRING_EV_DTMF", u64::from(TIPRING_EV_DTMF)),
        ("TIPRING_EV_HANGUP", u64::from(TIPRING_EV_HANGUP)),
        ("TIPRING_EV_TIMER", u64::from(TIPRING_EV_TIMER)),
        ("TIPRING_EV_WAKE", u64::from(TIPRING_EV_WAKE)),
        ("TIPRING_EV_MESSAGE", u64::from(TIPRING_EV_MESSAGE)),
        ("TIPRING_R_DONE", u64::from(TIPRING_R_DONE)),
        ("TIPRING_R_STOPPED", u64::from(TIPRING_R_STOPPED)),
        ("TIPRING_R_TIMEOUT", u64::from(TIPRING_R_TIMEOUT)),
        ("TIPRING_R_MAXDIGITS", u64::from(TIPRING_R_MAXDIGITS)),
        ("TIPRING_R_TERMDIGIT", u64::from(TIPRING_R_TERMDIGIT)),
        ("TIPRING_R_BUSY", u64::from(TIPRING_R_BUSY)),
        ("TIPRING_R_NOANSWER", u64::from(TIPRING_R_NOANSWER)),
        ("TIPRING_R_REJECTED", u64::from(TIPRING_R_REJECTED)),
        ("TIPRING_R_FAILED", u64::from(TIPRING_R_FAILED)),
        ("TIPRING_R_HANGUP", u64::from(TIPRING_R_HANGUP)),
        ("TIPRING_R_BARGEIN", u64::from(TIPRING_R_BARGEIN)),
        ("TIPRING_R_SILENCE", u64::from(TIPRING_R_SILENCE)),
        ("TIPRING_R_MAXTIME", u64::from(TIPRING_R_MAXTIME)),
        ("TIPRING_LOG_ERROR", u64::from(TIPRING_LOG_ERROR)),
        ("TIPRING_LOG_WARN", u64::from(TIPRING_LOG_WARN)),
        ("TIPRING_LOG_INFO", u64::from(TIPRING_LOG_INFO)),
        ("TIPRING_LOG_DEBUG", u64::from(TIPRING_LOG_DEBUG)),
        (
            "TIPRING_CAP_THREADSAFE_GLOBAL",
            TIPRING_CAP_THREADSAFE_GLOBAL,
        ),
    ];

    // The C side: print every number the compiler computed.
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <stdalign.h>\n#include \"tipring/handler.h\"\nint main(void) {\n",
    );
    for (name, fields) in &structs {
        c += &format!("printf(\"{name}.size %zu\\n\", sizeof({name}));\n");
        c += &format!("printf(\"{name}.align %zu\\n\", alignof({name}));\n");
        for f in fields {
            c += &format!("printf(\"{name}.{f} %zu\\n\", offsetof({name}, {f}));\n");
        }
    }
    for (name, _) in &consts {
        c += &format!("printf(\"{name} %llu\\n\", (unsigned long long)({name}));\n");
    }
    c += "printf(\"entry %s\\n\", TIPRING_ENTRY_SYMBOL);\n";
    // TIPRING_HAS works on a struct that lacks later fields.
    c += "tipring_event ev = {0}; ev.struct_size = offsetof(tipring_event, wake_token);\n";
    c += "printf(\"has %d %d\\n\", TIPRING_HAS(tipring_event, &ev, detail_json), TIPRING_HAS(tipring_event, &ev, wake_token));\n";
    c += "return 0; }\n";

    let dir = std::env::temp_dir().join(format!("tipring-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&src, c).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-I")
        .arg(&include)
        .output()
        .unwrap_or_else(|e| panic!("{cc}: {e} (a C compiler is needed to check the ABI)"));
    assert!(
        out.status.success(),
        "the header does not compile as strict C11:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(run.stdout).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let mut checked = 0;
    for line in text.lines() {
        let (k, v) = line.split_once(' ').unwrap();
        match k {
            "entry" => assert_eq!(v, TIPRING_ENTRY_SYMBOL),
            "has" => assert_eq!(v, "1 0", "TIPRING_HAS"),
            _ => {
                let c_value: u64 = v.parse().unwrap();
                let rust_value = rust
                    .get(k)
                    .map(|&v| v as u64)
                    .or_else(|| consts.iter().find(|(n, _)| *n == k).map(|c| c.1))
                    .unwrap_or_else(|| panic!("{k}: no Rust counterpart"));
                assert_eq!(
                    c_value, rust_value,
                    "{k}: C says {c_value}, Rust {rust_value}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, rust.len() + consts.len());
}
