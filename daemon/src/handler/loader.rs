//! Loading handler shared objects: open, find the entry symbol, check the ABI, run `init`.
//! A file that fails any step is refused with the reason; the others load regardless.

use super::host::HOST_API;
use super::process::{Limits, default_program, probe};

use super::supervise::Isolated;
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
    /// Where it runs.
    pub(crate) code: Code,
    /// What its calls get when it fails, and how many it may take.
    pub policy: Policy,
    /// The file as it was when loaded, and the config and options it was loaded with: a
    /// reload loads it again only when one of them changed.
    pub(crate) origin: Origin,
}

/// What a handler was loaded from, to tell whether a reload changes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    /// Device, inode, modification time (ns) and size of the file.
    pub(crate) file: Option<(u64, u64, i128, u64)>,
    /// The init config.
    pub(crate) config: String,
    /// The load options.
    pub(crate) options: LoadOptions,
}

/// The identity of `path` as it is now (a new version written by `mv` or under a new
/// name has another inode; one rewritten in place, another time or size).
pub(crate) fn file_id(path: &Path) -> Option<(u64, u64, i128, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.dev(),
        m.ino(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        m.size(),
    ))
}

/// Where a handler's code runs.
#[derive(Debug)]
pub(crate) enum Code {
    /// Loaded into this process.
    InProcess {
        /// Its vtable.
        vtable: Vtable,
        /// Its global state.
        global: Global,
    },
    /// In its own supervised host process.
    Isolated(Isolated),
}

impl Handler {
    /// Its vtable and global state, when it is loaded into this process.
    pub(crate) fn loaded(&self) -> Option<(Vtable, Global)> {
        match &self.code {
            Code::InProcess { vtable, global } => Some((*vtable, *global)),
            Code::Isolated(_) => None,
        }
    }

    /// Whether it runs in its own host process.
    pub fn is_isolated(&self) -> bool {
        matches!(self.code, Code::Isolated(_))
    }

    /// Its soft time budget per event (a slower callback is logged as `handler.slow`).
    pub fn soft_budget(&self) -> std::time::Duration {
        self.origin.options.limits.soft_budget
    }

    /// How its hosts run, when it is isolated.
    pub fn isolated(&self) -> Option<&Isolated> {
        match &self.code {
            Code::Isolated(i) => Some(i),
            Code::InProcess { .. } => None,
        }
    }
}

/// Where a handler runs (config `isolation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Isolation {
    /// Its own supervised host process (the default).
    #[default]
    Process,
    /// Inside tipringd: for first-party, audited handlers only.
    InProcess,
}

/// What a failed handler's calls get (config `fallback`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// An apology (`file:PATH.wav` or `tone:NAME`) on an answered call, then hang up with
    /// cause 41 (temporary failure); an unanswered call is refused with 41 at once.
    Apology(String),
    /// The call goes to this handler instead (it gets `OFFER` as a new call would).
    Handler(String),
}

impl Default for Fallback {
    fn default() -> Self {
        Fallback::Apology("tone:sit".into())
    }
}

/// A handler's policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// What its calls get when it fails.
    pub fallback: Fallback,
    /// Calls it may have at once (`None`: no limit of its own).
    pub max_calls: Option<u32>,
}

/// How to load a handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Where it runs.
    pub isolation: Isolation,
    /// Its host's limits (process mode).
    pub limits: Limits,
    /// Its policy.
    pub policy: Policy,
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
    program: Option<PathBuf>,
    /// Every file ever loaded into this process (the libraries stay).
    in_process: std::collections::HashSet<PathBuf>,
}

impl Registry {
    /// Loads every `*.so` in `dir` (sorted by name). Each is probed in a throwaway host
    /// first; `choose` gives the init config (JSON) and load options for the name the
    /// handler reports (so versioned file names, `ivr-1.4.2.so`, share one config).
    /// Refusals are kept with their reason and logged.
    pub fn load_dir(&mut self, dir: &Path, choose: impl Fn(&str) -> (String, LoadOptions)) {
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
            self.load_probed(&f, &choose);
        }
    }

    /// The program isolated handlers' hosts run (default: `tipringd`, found by
    /// [`default_program`]).
    pub fn set_host_program(&mut self, program: PathBuf) {
        self.program = Some(program);
    }

    /// The program isolated handlers' hosts run.
    pub fn host_program(&self) -> PathBuf {
        self.program.clone().unwrap_or_else(default_program)
    }

    /// Loads one trusted file in process with `config` (JSON) and the default policy,
    /// without a probe (tests, first-party code); returns the handler, or `None` if
    /// refused (the reason is in [`refused`](Self::refused) and the log).
    pub fn load(&mut self, path: &Path, config: &str) -> Option<Arc<Handler>> {
        let h = open(path, config).map(|mut h| {
            h.policy = Policy::default();
            h
        });
        self.admit(path, h)
    }

    /// Probes one file in a throwaway host, then loads it as `opts` say: in its own host
    /// (nothing of it runs in this process), or in process.
    pub fn load_with(
        &mut self,
        path: &Path,
        config: &str,
        opts: &LoadOptions,
    ) -> Option<Arc<Handler>> {
        self.load_probed(path, &|_: &str| (config.to_string(), opts.clone()))
    }

    fn load_probed(
        &mut self,
        path: &Path,
        choose: &dyn Fn(&str) -> (String, LoadOptions),
    ) -> Option<Arc<Handler>> {
        let program = self.host_program();
        let loaded = Self::prepare(&program, path, choose);
        self.admit(path, loaded)
    }

    /// Probes `path` in a throwaway host and makes it ready to take calls as the options
    /// `choose` gives for its name say (in process: loaded here now). Needs no registry,
    /// so a reload runs it without holding up call control.
    ///
    /// # Errors
    /// Why the file cannot be used, in one line.
    pub fn prepare(
        program: &Path,
        path: &Path,
        choose: &dyn Fn(&str) -> (String, LoadOptions),
    ) -> Result<Handler, String> {
        static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        // Probe hosts number down from the top (the supervisor's count up from 1); a
        // probe hands out no operation ids anyway.
        let id = u32::MAX - 1 - PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = file_id(path);
        let probed = probe(program, path, id, choose)?;
        let origin = Origin {
            file,
            config: probed.config.clone(),
            options: probed.options.clone(),
        };
        let mut h = match probed.options.isolation {
            Isolation::InProcess => open(path, &probed.config)?,
            Isolation::Process => Handler {
                name: probed.name,
                version: probed.version,
                path: path.to_path_buf(),
                abi: probed.abi,
                code: Code::Isolated(Isolated {
                    config: probed.config,
                    limits: probed.options.limits.clone(),
                    program: program.to_path_buf(),
                }),
                policy: Policy::default(),
                origin: Origin::default(),
            },
        };
        h.policy = probed.options.policy.clone();
        h.origin = origin;
        Ok(h)
    }

    /// Whether `path`, loaded with `config` and `opts`, is what a loaded handler already
    /// runs (a reload skips it).
    pub fn is_current(&self, path: &Path, choose: &dyn Fn(&str) -> (String, LoadOptions)) -> bool {
        let id = file_id(path);
        self.loaded.iter().any(|h| {
            h.path == path && h.origin.file == id && {
                let (config, options) = choose(&h.name);
                h.origin.config == config && h.origin.options == options
            }
        })
    }

    /// Puts a prepared handler in place: a handler of the same name is replaced for new
    /// calls (calls up keep theirs); returns the one replaced.
    pub fn install(&mut self, h: Handler) -> (Arc<Handler>, Option<Arc<Handler>>) {
        if !h.is_isolated() {
            self.in_process.insert(h.path.clone());
        }
        let h = Arc::new(h);
        let old = match self.loaded.iter_mut().find(|x| x.name == h.name) {
            Some(slot) => Some(std::mem::replace(slot, Arc::clone(&h))),
            None => {
                self.loaded.push(Arc::clone(&h));
                None
            }
        };
        self.refused.retain(|r| r.path != h.path);
        (h, old)
    }

    /// Every file loaded into this process so far.
    pub fn in_process_paths(&self) -> std::collections::HashSet<PathBuf> {
        self.in_process.clone()
    }

    /// Replaces the refusals (a reload rescanned every file).
    pub fn set_refused(&mut self, refused: Vec<Refused>) {
        self.refused = refused;
    }

    fn admit(&mut self, path: &Path, loaded: Result<Handler, String>) -> Option<Arc<Handler>> {
        match loaded {
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
                    isolation = if h.is_isolated() { "process" } else { "in-process" },
                    "handler loaded"
                );
                if !h.is_isolated() {
                    self.in_process.insert(h.path.clone());
                }
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

/// A handler's identity, read from its vtable without running its `init`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) vtable: &'static sys::tipring_handler_vtable,
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) abi: (u16, u16),
}

/// Opens `path` (once per process: a second open of the same file returns the same
/// library) and checks its entry symbol, ABI and vtable; runs nothing of the handler but
/// its constructors and its entry function.
pub(crate) fn entry(path: &Path) -> Result<Entry, String> {
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
    Ok(Entry {
        vtable,
        name,
        version,
        abi: (major, minor),
    })
}

/// Opens `path` and runs the handler's `init` with `config` (JSON).
pub(crate) fn open(path: &Path, config: &str) -> Result<Handler, String> {
    let Entry {
        vtable,
        name,
        version,
        abi,
    } = entry(path)?;
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
        abi,
        code: Code::InProcess {
            vtable: Vtable(vtable),
            global: Global(global),
        },
        policy: Policy::default(),
        origin: Origin {
            file: file_id(path),
            config: config.to_string(),
            options: LoadOptions {
                isolation: Isolation::InProcess,
                ..LoadOptions::default()
            },
        },
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
