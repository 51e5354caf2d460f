//! Loading handler shared objects: the two examples load; files that are not handlers, speak
//! another ABI, lack callbacks, fail init or reuse a name are refused with a precise reason,
//! and the loader carries on with the rest.

use std::path::{Path, PathBuf};
use std::process::Command;
use tipring_hal::{CallId, ChannelId};
use tipringd::handler::host::{CallCtx, Request};
use tipringd::handler::{Instance, Registry};

/// The Rust example's shared object, built next to this test as a dependency.
fn menu_so() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let p = deps.join("libtipring_example_menu.so");
    assert!(p.exists(), "{} missing", p.display());
    p
}

/// Compiles C `source` (including the handler header) into `dir/name.so`.
fn c_handler(dir: &Path, name: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&src, source).unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/include");
    let out = Command::new("cc")
        .args(["-std=c11", "-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-I")
        .arg(include)
        .output()
        .expect("a C compiler (cc)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// A C handler whose vtable is `vtable` (a C initializer) and whose init returns `init_rc`.
fn variant(init_rc: i32, vtable: &str) -> String {
    format!(
        r#"#include "tipring/handler.h"
static int init(const tipring_host_api *h, tipring_str c, void **g) {{ (void)h; (void)c; *g = 0; return {init_rc}; }}
static void shut(void *g) {{ (void)g; }}
static int create(void *g, tipring_channel *ch, tipring_str p, void **i) {{ (void)g; (void)ch; (void)p; *i = 0; return 0; }}
static int on_event(void *i, tipring_channel *ch, const tipring_event *e) {{ (void)i; (void)ch; (void)e; return 0; }}
static void destroy(void *i) {{ (void)i; }}
static const tipring_handler_vtable vt = {vtable};
const tipring_handler_vtable *tipring_handler_entry_v1(uint16_t a, uint16_t b) {{ (void)a; (void)b; return &vt; }}
"#
    )
}

const GOOD: &str = "{ sizeof(tipring_handler_vtable), 1, 0, \"NAME\", \"0.1\", 0, init, shut, create, on_event, destroy }";

#[test]
fn the_examples_load_and_bad_files_are_refused_precisely() {
    let dir = std::env::temp_dir().join(format!("tipring-handlers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("readme.so");
    std::fs::write(&text, "not an ELF file").unwrap();
    let no_entry = c_handler(
        &dir,
        "noentry",
        "int tipring_something_else(void) { return 0; }\n",
    );
    let v2 = c_handler(
        &dir,
        "v2",
        &variant(0, &GOOD.replace(", 1, 0,", ", 2, 0,").replace("NAME", "v2")),
    );
    let small = c_handler(
        &dir,
        "small",
        &variant(
            0,
            &GOOD
                .replace("sizeof(tipring_handler_vtable)", "16")
                .replace("NAME", "small"),
        ),
    );
    let no_cb = c_handler(
        &dir,
        "nocb",
        &variant(
            0,
            &GOOD
                .replace("on_event, destroy", "0, destroy")
                .replace("NAME", "nocb"),
        ),
    );
    let bad_name = c_handler(
        &dir,
        "badname",
        &variant(0, &GOOD.replace("NAME", "Bad Name")),
    );
    let fails = c_handler(&dir, "fails", &variant(-3, &GOOD.replace("NAME", "fails")));
    let fine = c_handler(&dir, "fine", &variant(0, &GOOD.replace("NAME", "fine")));
    let dup = c_handler(&dir, "dup", &variant(0, &GOOD.replace("NAME", "fine")));

    let mut reg = Registry::default();
    let ivr = reg
        .load(Path::new(tipring_example_ivr_c::SO_PATH), "{}")
        .expect("the C example loads");
    assert_eq!(
        (ivr.name.as_str(), ivr.version.as_str()),
        ("ivr-c", "1.0.0")
    );
    let menu = reg.load(&menu_so(), "{}").expect("the Rust example loads");
    assert_eq!(menu.name, "menu");
    for f in [
        &text, &no_entry, &v2, &small, &no_cb, &bad_name, &fails, &fine, &dup,
    ] {
        reg.load(f, "{}");
    }
    let reasons: Vec<(String, String)> = reg
        .refused()
        .iter()
        .map(|r| {
            (
                r.path.file_name().unwrap().to_string_lossy().into_owned(),
                r.reason.clone(),
            )
        })
        .collect();
    let reason = |f: &str| {
        reasons
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{f} was not refused: {reasons:?}"))
    };
    assert!(
        reason("readme.so").starts_with("not a loadable shared object: "),
        "{}",
        reason("readme.so")
    );
    assert_eq!(
        reason("noentry.so"),
        "no entry symbol tipring_handler_entry_v1 (not a Tipring handler, or built for another ABI)"
    );
    assert_eq!(reason("v2.so"), "built for ABI 2.0; this host speaks 1.1");
    assert!(
        reason("small.so").starts_with("its vtable is 16 bytes; ABI 1.0 needs "),
        "{}",
        reason("small.so")
    );
    assert_eq!(reason("nocb.so"), "its vtable lacks on_event");
    assert_eq!(
        reason("badname.so"),
        "its name \"Bad Name\" is not 1-64 characters of a-z 0-9 . _ -"
    );
    assert_eq!(
        reason("fails.so"),
        "its init failed (returned -3); see its log lines above"
    );
    assert!(reason("dup.so").starts_with("a handler named \"fine\" is already loaded from "));
    assert_eq!(reasons.len(), 8);
    // The good ones are all there.
    let names: Vec<&str> = reg.loaded().iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["ivr-c", "menu", "fine"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An instance of each example answers an offer: the request is queued in the call's
/// context; a Rust handler's panic comes back as a failure code, not an unwind.
#[test]
fn instances_queue_requests() {
    let mut reg = Registry::default();
    let ivr = reg
        .load(Path::new(tipring_example_ivr_c::SO_PATH), "{}")
        .unwrap();
    let menu = reg.load(&menu_so(), "{}").unwrap();
    for h in [ivr, menu] {
        let ctx = CallCtx::new(
            CallId(1),
            ChannelId(5),
            h.name.as_str().into(),
            Default::default(),
        );
        let mut inst = Instance::create(h, ctx, "{}").map_err(|e| e.0).unwrap();
        let ev = tipringd::handler::instance::HostEvent {
            kind: tipring_handler::sys::TIPRING_EV_OFFER,
            detail: "{}".into(),
            ..Default::default()
        };
        assert_eq!(inst.deliver(&ev), tipringd::handler::Outcome::Ok);
        let reqs: Vec<Request> = inst
            .ctx()
            .requests
            .borrow_mut()
            .drain(..)
            .map(|r| r.1)
            .collect();
        assert_eq!(reqs, vec![Request::Answer]);
        inst.destroy();
    }
}
