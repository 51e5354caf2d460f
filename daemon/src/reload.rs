//! Live upgrades and config reloads, without dropping a call.
//!
//! **Handlers.** The handlers directory (or the example handlers) is scanned; every file a
//! loaded handler does not already run as it is (same file, same config and options) is
//! probed in a throwaway host. Per handler name the highest version present wins (ties: the
//! newest file), so dropping `ivr-2.0.0.so` beside `ivr-1.0.0.so` upgrades, and removing
//! it again rolls back. A winner that is not running yet is put in place: new calls go to
//! it, calls up finish on the version they started with (an isolated handler's old host
//! finishes its calls and exits; an in-process one's library is never unloaded). Probing
//! runs without holding call control; only the switch-over takes the switch's lock.
//!
//! **Config.** `SIGHUP`, `POST /v1/config/reload` or `tipring reload` reads the file again.
//! A file with any error is refused with its place and reason and the running config stays.
//! Routes, groups, handler configs, policies and `max_calls` apply at once (new calls);
//! `[daemon]`'s other keys,
//! `[board]`, `[sip]` and `[records]` changes are reported as waiting for a restart.

use crate::call::Switch;
use crate::config::Config;
use crate::handler::{Handler, LoadOptions, Refused, Registry};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Handlers put in place: `name version (file)`.
    pub installed: Vec<String>,
    /// Files left aside for a higher version of the same handler.
    pub superseded: Vec<String>,
    /// Files refused, with the reason.
    pub refused: Vec<(String, String)>,
    /// Config sections that changed but apply only at the next restart.
    pub restart_needed: Vec<String>,
}

/// The example handlers built with the daemon (no `handlers_dir`).
pub fn example_files() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from(tipring_example_ivr_c::SO_PATH)];
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for cand in [
            dir.join("libtipring_example_menu.so"),
            dir.join("deps/libtipring_example_menu.so"),
        ] {
            if cand.exists() {
                v.push(cand);
                break;
            }
        }
    }
    v
}

/// The handler files `cfg` names: every `*.so` in its handlers directory (sorted), or the
/// example handlers.
///
/// # Errors
/// The directory cannot be read.
pub fn handler_files(cfg: &Config) -> Result<Vec<PathBuf>, String> {
    let Some(dir) = &cfg.daemon.handlers_dir else {
        return Ok(example_files());
    };
    let rd = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the handlers directory {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .collect();
    files.sort();
    Ok(files)
}

/// The init config (JSON) and load options `cfg` gives the handler called `name`.
pub fn choice(cfg: &Config, name: &str) -> (String, LoadOptions) {
    let config = cfg.handler.get(name).map_or_else(
        || "{}".to_string(),
        |t| serde_json::to_string(t).unwrap_or_else(|_| "{}".into()),
    );
    let options = cfg
        .policy
        .get(name)
        .map(crate::config::PolicyEntry::options)
        .unwrap_or_default();
    (config, options)
}

/// Version order: numeric parts compared as numbers (`1.10.0` > `1.9.2`), others as text.
fn version_key(v: &str) -> Vec<(u64, String)> {
    v.split(['.', '-', '+'])
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (0, p.to_string()),
        })
        .collect()
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// The files to run and what to put in place, decided without the switch: `current`
/// tells, for a file a loaded handler runs unchanged, that handler's name and version.
fn prepare(
    program: &Path,
    files: &[PathBuf],
    current: &dyn Fn(&Path) -> Option<(String, String)>,
    in_process: &std::collections::HashSet<PathBuf>,
    choose: &dyn Fn(&str) -> (String, LoadOptions),
) -> (Vec<Handler>, Report, Vec<Refused>) {
    let mut report = Report::default();
    let mut refused = Vec::new();
    // name → candidates (version, file, already running)
    let mut by_name: BTreeMap<String, Vec<(String, PathBuf, bool)>> = BTreeMap::new();
    for f in files {
        if let Some((name, version)) = current(f) {
            by_name
                .entry(name)
                .or_default()
                .push((version, f.clone(), true));
            continue;
        }
        match crate::handler::process::probe(program, f, u32::MAX - 1, choose) {
            Ok(p) => by_name
                .entry(p.name)
                .or_default()
                .push((p.version, f.clone(), false)),
            Err(reason) => {
                tracing::error!(file = %f.display(), "handler refused: {reason}");
                report
                    .refused
                    .push((f.display().to_string(), reason.clone()));
                refused.push(Refused {
                    path: f.clone(),
                    reason,
                });
            }
        }
    }
    let mut ready = Vec::new();
    for (name, mut cands) in by_name {
        cands.sort_by(|a, b| {
            version_key(&a.0)
                .cmp(&version_key(&b.0))
                .then_with(|| mtime(&a.1).cmp(&mtime(&b.1)))
        });
        let Some((version, file, running)) = cands.pop() else {
            continue;
        };
        for (v, f, _) in cands {
            report.superseded.push(format!(
                "{} ({name} {v}, superseded by {version})",
                f.display()
            ));
        }
        if running {
            continue;
        }
        if choose(&name).1.isolation == crate::handler::Isolation::InProcess
            && in_process.contains(&file)
        {
            let reason = format!(
                "{name} {version}: this path is loaded in process already: a new version or \
                 config of an in-process handler needs a new file name, or a restart \
                 (libraries are never unloaded)"
            );
            tracing::error!(file = %file.display(), "handler refused: {reason}");
            report
                .refused
                .push((file.display().to_string(), reason.clone()));
            refused.push(Refused { path: file, reason });
            continue;
        }
        match Registry::prepare(program, &file, choose) {
            Ok(h) => {
                report
                    .installed
                    .push(format!("{} {} ({})", h.name, h.version, file.display()));
                ready.push(h);
            }
            Err(reason) => {
                tracing::error!(file = %file.display(), "handler refused: {reason}");
                report
                    .refused
                    .push((file.display().to_string(), reason.clone()));
                refused.push(Refused { path: file, reason });
            }
        }
    }
    (ready, report, refused)
}

/// Loads or reloads the handlers `cfg` names into `switch` (a lock around it, held only to
/// read what runs and to switch over).
///
/// # Errors
/// The handlers directory cannot be read (nothing changes).
pub fn handlers(switch: &Mutex<Switch>, cfg: &Config) -> Result<Report, String> {
    let _one = RELOADING.lock().unwrap_or_else(|p| p.into_inner());
    handlers_locked(switch, cfg)
}

/// One reload at a time (SIGHUP, the API, the directory watcher): two at once could each
/// put in place what the other just replaced, with the older config.
static RELOADING: Mutex<()> = Mutex::new(());

fn handlers_locked(switch: &Mutex<Switch>, cfg: &Config) -> Result<Report, String> {
    let files = handler_files(cfg)?;
    let choose = |name: &str| choice(cfg, name);
    let (program, running, in_process) = {
        let sw = switch.lock().unwrap_or_else(|p| p.into_inner());
        let reg = sw.handlers();
        let running: HashMap<PathBuf, (String, String)> = files
            .iter()
            .filter(|f| reg.is_current(f, &choose))
            .filter_map(|f| {
                reg.loaded()
                    .iter()
                    .find(|h| &h.path == f)
                    .map(|h| (f.clone(), (h.name.clone(), h.version.clone())))
            })
            .collect();
        (reg.host_program(), running, reg.in_process_paths())
    };
    let current = |f: &Path| running.get(f).cloned();
    let (ready, report, refused) = prepare(&program, &files, &current, &in_process, &choose);
    let mut sw = switch.lock().unwrap_or_else(|p| p.into_inner());
    for h in ready {
        sw.install_handler(h);
    }
    sw.set_refused(refused);
    Ok(report)
}

fn sections(text: &str) -> BTreeMap<String, toml::Value> {
    toml::from_str::<toml::Table>(text)
        .map(|t| t.into_iter().collect())
        .unwrap_or_default()
}

/// Reads the config file again and applies it (see the [module docs](self)); `running` is
/// replaced only when the new file is valid.
///
/// # Errors
/// The file's error (file, line, column, reason), or that tipringd runs without a file.
pub fn config(switch: &Mutex<Switch>, running: &Mutex<Config>) -> Result<Report, String> {
    let _one = RELOADING.lock().unwrap_or_else(|p| p.into_inner());
    let (path, old_text) = {
        let c = running.lock().unwrap_or_else(|p| p.into_inner());
        (c.source.clone(), c.text.clone())
    };
    let Some(path) = path else {
        return Err(
            "tipringd runs on built-in defaults (no config file): nothing to reload".into(),
        );
    };
    let new = Config::load(&path).map_err(|e| e.to_string())?;
    let (old_s, new_s) = (sections(&old_text), sections(&new.text));
    let mut restart_needed = Vec::new();
    for key in ["board", "sip", "records"] {
        if old_s.get(key) != new_s.get(key) {
            restart_needed.push(format!("[{key}]"));
        }
    }
    let daemon = |s: &BTreeMap<String, toml::Value>| {
        let mut d = s.get("daemon").cloned();
        if let Some(toml::Value::Table(t)) = d.as_mut() {
            t.remove("handlers_dir");
            t.remove("max_calls");
        }
        d
    };
    if daemon(&old_s) != daemon(&new_s) {
        restart_needed.push("[daemon] (but handlers_dir, max_calls)".into());
    }
    let routes = new.routes();
    let mut by_channel: HashMap<u32, Vec<String>> = HashMap::new();
    for (g, chans) in &new.groups {
        for c in chans {
            by_channel.entry(*c).or_default().push(g.clone());
        }
    }
    // Handlers first, so that a new route's new handler is there when the route is.
    let mut report = handlers_locked(switch, &new)?;
    {
        let mut sw = switch.lock().unwrap_or_else(|p| p.into_inner());
        sw.set_routes(routes, &by_channel);
        sw.set_max_calls(new.daemon.max_calls);
    }
    for r in &restart_needed {
        tracing::warn!("config reload: {r} changed; it takes effect at the next restart");
    }
    report.restart_needed = restart_needed;
    tracing::info!(
        file = %path.display(),
        installed = report.installed.len(),
        "config reloaded"
    );
    *running.lock().unwrap_or_else(|p| p.into_inner()) = new;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn versions_order_numerically() {
        assert!(version_key("1.10.0") > version_key("1.9.2"));
        assert!(version_key("2.0.0") > version_key("1.99"));
        assert!(version_key("1.0.0") == version_key("1.0.0"));
    }
}
