//! Loading handler shared objects: open, find the entry symbol, check the ABI, run `init`.
//! A file that fails any step is refused with the reason; the others load regardless.

use super::host::HOST_API;
use std::ffi::{CStr, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tipring_handler::sys;

/// A loaded handler. Its library is never unloaded (unloading is unsound with thread-local
/// destructors; see ARCHITECTURE.md): a new version is a new file name.
#[derive(Debug)]
pub struct Handler {
    /// Its name (from its vtable).
    pub name: String,
    /// Its version (from its vtable).
    pub version: String,
    /// The file it came from.
    pub path: PathBuf,
    /// The ABI version it was built for.
    pub abi: (u16, u16),
    pub(crate) vtable: Vtable,
    pub(crate) global: Global,
}

/// A handler's static vtable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vtable(pub(crate) &'static sys::tipring_handler_vtable);
// SAFETY: the vtable is immutable static data of a library that is never unloaded: its
// function pointers and static strings may be read from any thread.
unsafe impl Send for Vtable {}
// SAFETY: as above.
unsafe impl Sync for Vtable {}

impl std::ops::Deref for Vtable {
    type Target = sys::tipring_handler_vtable;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

/// The handler's global state pointer (from `init`). Only passed back to the handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Global(pub(crate) *mut c_void);
// SAFETY: the host never dereferences it; it hands it back to the handler, which declares
// (TIPRING_CAP_THREADSAFE_GLOBAL) or is given (one control thread) the threading it needs.
unsafe impl Send for Global {}
// SAFETY: as above.
unsafe impl Sync for Global {}

/// A file that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The file.
    pub path: PathBuf,
    /// Why, in one line.
    pub reason: String,
}

/// The handlers the daemon knows.
#[derive(Debug, Default)]
pub struct Registry {
    loaded: Vec<Arc<Handler>>,
    refused: Vec<Refused>,
}

impl Registry {
    /// Loads every `*.so` in `dir` (sorted by name), giving each the JSON config `config`
    /// returns for its file stem. Refusals are kept with their reason and logged.
    pub fn load_dir(&mut self, dir: &Path, config: impl Fn(&str) -> String) {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "so"))
                .collect(),
            Err(e) => {
                self.refuse(dir, format!("cannot read the handlers directory: {e}"));
                return;
            }
        };
        files.sort();
        for f in files {
            let stem = f
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            self.load(&f, &config(&stem));
        }
    }

    /// Loads one file with `config` (JSON); returns the handler, or `None` if refused (the
    /// reason is in [`refused`](Self::refused) and the log).
    pub fn load(&mut self, path: &Path, config: &str) -> Option<Arc<Handler>> {
        match open(path, config) {
            Ok(h) => {
                if let Some(other) = self.get(&h.name) {
                    self.refuse(
                        path,
                        format!(
                            "a handler named \"{}\" is already loaded from {}",
                            h.name,
                            other.path.display()
                        ),
                    );
                    return None;
                }
                tracing::info!(
                    handler = %h.name,
                    version = %h.version,
                    file = %path.display(),
                    "handler loaded"
                );
                let h = Arc::new(h);
                self.loaded.push(Arc::clone(&h));
                Some(h)
            }
            Err(reason) => {
                self.refuse(path, reason);
                None
            }
        }
    }

    fn refuse(&mut self, path: &Path, reason: String) {
        tracing::error!(file = %path.display(), "handler refused: {reason}");
        self.refused.push(Refused {
            path: path.to_path_buf(),
            reason,
        });
    }

    /// The loaded handler called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Handler>> {
        self.loaded.iter().find(|h| h.name == name)
    }

    /// Every loaded handler.
    pub fn loaded(&self) -> &[Arc<Handler>] {
        &self.loaded
    }

    /// Every refused file, with the reason.
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }
}

/// A handler name: 1–64 of `a-z 0-9 . _ -`.
fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// # Safety
/// `p` is null or points to a NUL-terminated string that lives for the program.
unsafe fn static_str(p: *const std::ffi::c_char, what: &str) -> Result<&'static str, String> {
    if p.is_null() {
        return Err(format!("its vtable has no {what}"));
    }
    // SAFETY: per the contract, a static NUL-terminated string.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| format!("its {what} is not UTF-8"))
}

fn open(path: &Path, config: &str) -> Result<Handler, String> {
    let flags = libc::RTLD_NOW | libc::RTLD_LOCAL;
    // SAFETY: loading a shared object runs its constructors: that is the trust an
    // in-process handler is given (process isolation is the alternative).
    let lib = unsafe { libloading::os::unix::Library::open(Some(path), flags) }
        .map_err(|e| format!("not a loadable shared object: {e}"))?;
    let symbol = format!("{}\0", sys::TIPRING_ENTRY_SYMBOL);
    // SAFETY: the symbol's type is the ABI's entry function type.
    let entry: libloading::os::unix::Symbol<sys::tipring_entry_fn> =
        unsafe { lib.get(symbol.as_bytes()) }.map_err(|_| {
            format!(
                "no entry symbol {} (not a Tipring handler, or built for another ABI)",
                sys::TIPRING_ENTRY_SYMBOL
            )
        })?;
    // SAFETY: calling the ABI's entry function with the host's version.
    let vt = unsafe { entry(sys::TIPRING_ABI_MAJOR, sys::TIPRING_ABI_MINOR) };
    if vt.is_null() {
        return Err(format!(
            "it declined ABI {}.{} (its entry returned NULL)",
            sys::TIPRING_ABI_MAJOR,
            sys::TIPRING_ABI_MINOR
        ));
    }
    // The library is never unloaded, so its static vtable lives for the program.
    std::mem::forget(lib);
    // Only the head (struct_size, abi_major, abi_minor: 8 bytes every version has) is read
    // before the size is checked.
    let base = vt.cast::<u8>();
    // SAFETY: non-null, pointing to the handler's static vtable, which starts with a u32 and
    // two u16.
    let (size, major, minor) = unsafe {
        (
            std::ptr::read_unaligned(base.cast::<u32>()) as usize,
            std::ptr::read_unaligned(base.add(4).cast::<u16>()),
            std::ptr::read_unaligned(base.add(6).cast::<u16>()),
        )
    };
    let need = std::mem::size_of::<sys::tipring_handler_vtable>();
    if major != sys::TIPRING_ABI_MAJOR {
        return Err(format!(
            "built for ABI {major}.{minor}; this host speaks {}.{}",
            sys::TIPRING_ABI_MAJOR,
            sys::TIPRING_ABI_MINOR
        ));
    }
    if size < need {
        return Err(format!(
            "its vtable is {size} bytes; ABI {}.0 needs {need} (built against a broken header?)",
            sys::TIPRING_ABI_MAJOR
        ));
    }
    // SAFETY: the handler's static vtable, at least as large as ours.
    let vtable: &'static sys::tipring_handler_vtable = unsafe { &*vt };
    // SAFETY: the ABI says both are static NUL-terminated strings (null is checked).
    let name = unsafe { static_str(vtable.name, "name") }?;
    // SAFETY: as above.
    let version = unsafe { static_str(vtable.version, "version") }?;
    if !valid_name(name) {
        return Err(format!(
            "its name {name:?} is not 1-64 characters of a-z 0-9 . _ -"
        ));
    }
    let missing: Vec<&str> = [
        ("init", vtable.init.is_none()),
        ("instance_create", vtable.instance_create.is_none()),
        ("on_event", vtable.on_event.is_none()),
        ("instance_destroy", vtable.instance_destroy.is_none()),
    ]
    .into_iter()
    .filter_map(|(n, m)| m.then_some(n))
    .collect();
    if !missing.is_empty() {
        return Err(format!("its vtable lacks {}", missing.join(", ")));
    }
    let mut global: *mut c_void = std::ptr::null_mut();
    let init = vtable.init.ok_or("its vtable lacks init")?;
    let cfg = sys::tipring_str {
        ptr: config.as_ptr().cast(),
        len: config.len(),
    };
    let rc = super::host::with_handler_context(name, || {
        // SAFETY: the handler's init with our static host table, a config string valid for
        // the call, and an out-pointer to a local.
        unsafe { init(&HOST_API, cfg, &mut global) }
    });
    if rc != 0 {
        return Err(format!(
            "its init failed (returned {rc}); see its log lines above"
        ));
    }
    Ok(Handler {
        name: name.to_string(),
        version: version.to_string(),
        path: path.to_path_buf(),
        abi: (major, minor),
        vtable: Vtable(vtable),
        global: Global(global),
    })
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name("ivr-c"));
        assert!(valid_name("menu_2.v1"));
        assert!(!valid_name(""));
        assert!(!valid_name("IVR"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
