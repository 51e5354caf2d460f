//! A temporary directory removed on drop.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Set this environment variable (to anything) to keep the directories for a post-mortem;
/// their paths are then printed to stderr when they would have been removed.
pub const KEEP_ENV: &str = "TIPRING_SIPKIT_KEEP";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory under the system temp dir, unique to this process, removed (with its
/// contents) on drop unless [`KEEP_ENV`] is set.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/tipring-sipkit-<label>-<pid>-<n>-<nanos>`.
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be created.
    pub fn new(label: &str) -> Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "tipring-sipkit-{label}-{}-{n}-{nanos:09}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        Ok(Self { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_ENV).is_some() {
            eprintln!("tipring-sipkit: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_on_drop() {
        let d = TempDir::new("t/x").unwrap();
        std::fs::write(d.join("f"), b"x").unwrap();
        let p = d.path().to_path_buf();
        assert!(p.file_name().unwrap().to_str().unwrap().contains("t_x"));
        drop(d);
        if std::env::var_os(KEEP_ENV).is_none() {
            assert!(!p.exists());
        }
    }
}
