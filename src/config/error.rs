//! Config errors: every one names the file, and where it can, the line and
//! column, so an operator can jump straight to it.

use std::fmt;
use std::path::PathBuf;

use super::locate::Pos;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Something wrong at a place in a file.
    #[error("{}", Located { file, pos: *pos, message })]
    At {
        file: PathBuf,
        pos: Option<Pos>,
        message: String,
    },
    /// The file could not be read at all.
    #[error("{}: cannot read: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// Several things wrong, found together: one line each.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// One error for `all`: none, the one, or several together.
    pub fn all(all: Vec<ConfigError>) -> Option<ConfigError> {
        if all.len() > 1 {
            return Some(ConfigError::Several(all));
        }
        all.into_iter().next()
    }

    pub fn at(file: impl Into<PathBuf>, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self::At {
            file: file.into(),
            pos,
            message: message.into(),
        }
    }
}

struct Located<'a> {
    file: &'a PathBuf,
    pos: Option<Pos>,
    message: &'a String,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the file (keys, values, serde's words about them):
        // whatever bytes it holds are made inert before they are shown.
        let message = crate::sanitize::strip_controls(self.message);
        match self.pos {
            Some(p) => write!(
                f,
                "{}:{}:{}: {message}",
                self.file.display(),
                p.line,
                p.column,
            ),
            None => write!(f, "{}: {message}", self.file.display()),
        }
    }
}

/// A non-fatal note about the config (an old key migrated, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Located {
            file: &self.file,
            pos: self.pos,
            message: &self.message,
        }
        .fmt(f)
    }
}

/// A host or app that the config does not declare, and the file that was
/// read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{name}` is not declared in {}", file.display())]
pub struct NotDeclared {
    /// `host` or `app`.
    pub kind: &'static str,
    pub name: String,
    pub file: std::path::PathBuf,
}
