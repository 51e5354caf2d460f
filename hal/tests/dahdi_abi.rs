//! Tipring's DAHDI request numbers, constants and structure layouts against the real
//! `dahdi/user.h`: a small C program compiled against the header prints each value the way
//! the C compiler sees it, and the test compares them with `tipring_hal::dahdi::sys`. A
//! structure one byte off would change its request number, and the driver would refuse
//! the request (or write past the buffer, for one too small): this is the check that it
//! is not.
//!
//! The header comes from Debian's `dahdi-source` (`scripts/deps --test` puts it under
//! /usr/include/dahdi); `TIPRING_DAHDI_INCLUDE` names another include directory.
#![cfg(feature = "dahdi")]
// The request type is c_ulong on glibc and c_int on musl.
#![allow(clippy::unnecessary_cast)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tipring_hal::dahdi::sys;

fn include_dir() -> PathBuf {
    let dir = std::env::var_os("TIPRING_DAHDI_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    assert!(
        dir.join("dahdi/user.h").is_file(),
        "{}/dahdi/user.h is missing: run scripts/deps --test (it installs the header from \
         Debian's dahdi-source) or set TIPRING_DAHDI_INCLUDE to a directory holding dahdi/user.h",
        dir.display()
    );
    dir
}

/// The probe's output: `name value` per line.
fn probe() -> HashMap<String, u64> {
    let inc = include_dir();
    let dir = std::env::temp_dir().join(format!("tipring-dahdi-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <dahdi/user.h>\nint main(void) {\n",
    );
    for (name, _) in sys::REQUESTS {
        c += &format!("  printf(\"{name} %lu\\n\", (unsigned long){name});\n");
    }
    for (name, _) in sys::CONSTANTS {
        c += &format!("  printf(\"{name} %llu\\n\", (unsigned long long)(long long)({name}));\n");
    }
    for (st, field, _) in sys::layout() {
        if field.is_empty() {
            c += &format!("  printf(\"sizeof {st} %zu\\n\", sizeof(struct {st}));\n");
        } else {
            c += &format!(
                "  printf(\"offsetof {st}.{field} %zu\\n\", offsetof(struct {st}, {field}));\n"
            );
        }
    }
    c += "  return 0;\n}\n";
    let src = dir.join("probe.c");
    let bin = dir.join("probe");
    std::fs::write(&src, c).unwrap();
    let out = Command::new("cc")
        .arg("-std=gnu11")
        .arg("-I")
        .arg(&inc)
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("run cc (apt-get install gcc)");
    assert!(
        out.status.success(),
        "the probe did not compile against {}/dahdi/user.h:\n{}",
        inc.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&bin).output().expect("run the probe");
    assert!(run.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn requests_constants_and_layouts_match_the_real_header() {
    let c = probe();
    let mut wrong = Vec::new();
    for (name, ours) in sys::REQUESTS {
        let theirs = c[*name];
        if theirs != *ours as u64 {
            wrong.push(format!(
                "{name}: ours {:#x}, the header's {theirs:#x}",
                *ours as u64
            ));
        }
    }
    for (name, ours) in sys::CONSTANTS {
        let theirs = c[*name] as i64;
        if theirs != *ours {
            wrong.push(format!("{name}: ours {ours}, the header's {theirs}"));
        }
    }
    for (st, field, ours) in sys::layout() {
        let key = if field.is_empty() {
            format!("sizeof {st}")
        } else {
            format!("offsetof {st}.{field}")
        };
        let theirs = c[&key] as usize;
        if theirs != ours {
            wrong.push(format!("{key}: ours {ours}, the header's {theirs}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "differences from dahdi/user.h:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        c.len(),
        sys::REQUESTS.len() + sys::CONSTANTS.len() + sys::layout().len(),
        "every value was probed"
    );
}
