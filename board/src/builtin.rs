//! The profiles shipped in `board/profiles/`, compiled in.

use crate::error::ProfileError;
use crate::profile::Profile;
use std::path::Path;

/// Name and text of each built-in profile, in the order `tipring board list` shows them.
const BUILTINS: &[(&str, &str)] = &[
    ("sim", include_str!("../profiles/sim.toml")),
    (
        "analog-4fxo-4fxs",
        include_str!("../profiles/analog-4fxo-4fxs.toml"),
    ),
    ("mixed-sip", include_str!("../profiles/mixed-sip.toml")),
    ("t1", include_str!("../profiles/t1.toml")),
    ("t1-em", include_str!("../profiles/t1-em.toml")),
    ("e1x4", include_str!("../profiles/e1x4.toml")),
];

const NAMES: &[&str] = &[
    "sim",
    "analog-4fxo-4fxs",
    "mixed-sip",
    "t1",
    "t1-em",
    "e1x4",
];

impl Profile {
    /// Parses `text`; `source_name` (usually the file's path) goes in error messages.
    ///
    /// # Errors
    /// [`ProfileError::Invalid`] naming file, line, column and key: TOML syntax, unknown
    /// keys, wrong types, and every rule in the [crate docs](crate).
    pub fn parse(source_name: &str, text: &str) -> Result<Profile, ProfileError> {
        crate::parse::parse(source_name, text)
    }

    /// Reads and parses the profile at `path`.
    ///
    /// # Errors
    /// [`ProfileError::Read`] when the file cannot be read, else as [`parse`](Self::parse).
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The built-in profile `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Profile> {
        let text = builtin_text(name)?;
        // The built-ins are checked by this crate's tests; a broken one would be a bug in
        // the crate, reported as "no such profile" rather than a panic.
        Self::parse(&format!("{name}.toml"), text).ok()
    }

    /// The built-in profiles' names.
    pub fn builtin_names() -> &'static [&'static str] {
        NAMES
    }

    /// A profile by built-in name or path: a path if `name_or_path` contains `/` or ends in
    /// `.toml`, else a built-in name.
    ///
    /// # Errors
    /// [`ProfileError::UnknownBuiltin`] for a name that is no built-in, else as
    /// [`load`](Self::load).
    pub fn resolve(name_or_path: &str) -> Result<Profile, ProfileError> {
        if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
            return Self::load(Path::new(name_or_path));
        }
        match builtin_text(name_or_path) {
            Some(text) => Self::parse(&format!("{name_or_path}.toml"), text),
            None => Err(ProfileError::UnknownBuiltin {
                name: name_or_path.to_string(),
            }),
        }
    }

    /// How many voice channels the board has: the channels of every group (D-channels are
    /// not voice channels), or the simulated phones and trunks. `[sip]` slots are not
    /// counted; add [`SipSection::channels`](crate::SipSection::channels) for those.
    pub fn channel_count(&self) -> u32 {
        let ports: usize = self.groups.iter().map(|g| g.channels.len()).sum();
        let sim = self.sim.map_or(0, |s| s.phones + s.trunks);
        u32::try_from(ports).unwrap_or(u32::MAX).saturating_add(sim)
    }
}

/// The source text of built-in profile `name`.
pub fn builtin_text(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
