//! Errors about profiles.

use std::path::PathBuf;

/// Why a profile could not be read, validated or turned into DAHDI configuration.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file's contents are wrong: where and what, with the key.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file (or the name the text was parsed under).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong, starting with the key (`span[0].coding: …`).
        message: String,
    },
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A name that is not a built-in profile (and not a path).
    #[error(
        "no built-in board profile {name:?} (built-ins: {}); give a path to a .toml file for your own",
        crate::Profile::builtin_names().join(", ")
    )]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
    },
    /// DAHDI configuration was asked of a profile that does not use DAHDI.
    #[error(
        "board profile {name:?} is for the simulated board (hardware = \"sim\"): it has no DAHDI system.conf"
    )]
    NotDahdi {
        /// The profile's name.
        name: String,
    },
}

impl ProfileError {
    /// Builds an [`Invalid`](ProfileError::Invalid) error at byte offset `at` of `text`.
    pub(crate) fn at(file: &str, text: &str, at: usize, message: String) -> ProfileError {
        let (line, column) = line_col(text, at);
        ProfileError::Invalid {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at`; offsets past the end or
/// inside a character count as the nearest character boundary before them.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("é = 1", 3), (1, 3));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
