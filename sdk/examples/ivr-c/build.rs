//! Compiles ivr.c into a shared object in OUT_DIR with the platform's C compiler, as a
//! handler author would (strict C11, every warning an error).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let src = manifest.join("ivr.c");
    let include = manifest.join("../../include");
    let so = out.join("libtipring_ivr_c.so");
    println!("cargo:rerun-if-changed={}", src.display());
    println!(
        "cargo:rerun-if-changed={}",
        include.join("tipring/handler.h").display()
    );
    let compiler = cc::Build::new().get_compiler();
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
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&so)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("compiling {} failed ({s})", src.display()),
        Err(e) => panic!("running the C compiler {}: {e}", compiler.path().display()),
    }
    println!("cargo:rustc-env=TIPRING_IVR_C_SO={}", so.display());
}
