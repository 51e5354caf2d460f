//! Compiles faulty.c four times, once per fault kind, into shared objects in OUT_DIR with
//! the platform's C compiler, with the same strict flags as the ivr-c example (strict C11,
//! every warning an error).

use std::path::PathBuf;
use std::process::Command;

/// (file name part, FAULT_KIND macro value, environment variable for src/lib.rs).
const KINDS: [(&str, &str, &str); 4] = [
    ("segv", "FAULT_SEGV", "TIPRING_FAULTY_SEGV_SO"),
    ("abort", "FAULT_ABORT", "TIPRING_FAULTY_ABORT_SO"),
    ("loop", "FAULT_LOOP", "TIPRING_FAULTY_LOOP_SO"),
    ("leak", "FAULT_LEAK", "TIPRING_FAULTY_LEAK_SO"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let src = manifest.join("faulty.c");
    let include = manifest.join("../../include");
    println!("cargo:rerun-if-changed={}", src.display());
    println!(
        "cargo:rerun-if-changed={}",
        include.join("tipring/handler.h").display()
    );
    let compiler = cc::Build::new().get_compiler();
    for (kind, macro_value, env_var) in KINDS {
        let so = out.join(format!("libtipring_faulty_{kind}.so"));
        let status = Command::new(compiler.path())
            .args([
                "-std=c11",
                "-O2",
                "-g",
                "-fPIC",
                "-shared",
                "-fvisibility=hidden",
            ])
            .args(["-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(format!("-DFAULT_KIND={macro_value}"))
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(&so)
            .arg(&src)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("compiling {} ({kind}) failed ({s})", src.display()),
            Err(e) => panic!("running the C compiler {}: {e}", compiler.path().display()),
        }
        println!("cargo:rustc-env={env_var}={}", so.display());
    }
}
