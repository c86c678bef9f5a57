//! Finding and reading a Kamal app's deploy files: the destination files
//! beside `deploy.yml`, each file rendered (ERB) and parsed with where its
//! values are written, and the deep merge Kamal does of them.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::KamalSource;
use super::erb::{Block, Ruby, Vars, render};
use super::psych;
use crate::config::error::{ConfigError, ConfigWarning};
use crate::config::locate::{Pos, Positions};

/// `config/deploy.yml` → `config/deploy.staging.yml`.
pub fn destination_file(base: &Path, destination: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "deploy".into());
    base.with_file_name(format!("{stem}.{destination}.yml"))
}

/// The file a destination is read from, or the base file with none.
pub fn destination_or_base(base: &Path, destination: Option<&str>) -> PathBuf {
    match destination {
        Some(d) => destination_file(base, d),
        None => base.to_path_buf(),
    }
}

/// The destinations that have a file beside `base` (`deploy.<d>.yml`),
/// sorted.
pub fn destinations_beside(base: &Path) -> Vec<String> {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match base.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let d = name
                .strip_prefix(&format!("{stem}."))?
                .strip_suffix(".yml")?
                .to_string();
            (!d.is_empty() && !d.contains('.')).then_some(d)
        })
        .collect();
    out.sort();
    out
}

/// Maps merge key by key, as ActiveSupport's `deep_merge`; anything else
/// (lists included) is replaced.
pub(super) fn deep_merge(into: &mut Value, over: Value) {
    match (into, over) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One file, rendered and parsed, with where its values are written.
pub(super) struct Doc {
    pub(super) file: PathBuf,
    pub(super) value: Value,
    pub(super) positions: Positions,
    /// The ERB whose value berth does not know, and its undecided blocks.
    pub(super) ruby: Vec<Ruby>,
    pub(super) blocks: Vec<Block>,
    /// Keys written twice (the last one is read, as Psych does).
    pub(super) warnings: Vec<ConfigWarning>,
}

impl Doc {
    pub(super) fn read(file: &Path, vars: &mut Vars) -> Result<Doc, ConfigError> {
        let text = crate::config::read_bounded(file).map_err(|error| ConfigError::Read {
            file: file.to_path_buf(),
            error,
        })?;
        Doc::parse(file, &text, vars)
    }

    /// `text`, as if read from `file`.
    pub(super) fn parse(file: &Path, text: &str, vars: &mut Vars) -> Result<Doc, ConfigError> {
        let rendered = render(file, text, vars)?;
        let parsed = psych::parse(&rendered.text).map_err(|e| {
            let pos = e.location().map(|l| Pos {
                line: l.line(),
                column: l.column(),
            });
            ConfigError::at(
                file,
                pos,
                format!(
                    "invalid YAML: {}",
                    crate::config::strip_location(&e.to_string())
                ),
            )
        })?;
        let mut value = parsed.value;
        if let Value::String(whole) = &value
            && let Some(r) = rendered.ruby.iter().find(|r| whole.contains(&r.marker))
        {
            return Err(ConfigError::at(
                file,
                Some(r.pos),
                format!(
                    "the whole file is what Ruby renders, and berth cannot read it without running Ruby: {}",
                    r.reason()
                ),
            ));
        }
        if value.is_null() {
            value = Value::Mapping(Default::default());
        }
        value
            .apply_merge()
            .map_err(|e| ConfigError::at(file, None, format!("invalid YAML merge key: {e}")))?;
        if !value.is_mapping() {
            return Err(ConfigError::at(
                file,
                Some(Pos { line: 1, column: 1 }),
                "a Kamal deploy file is a map (`service:`, `image:`, `servers:`, ...)",
            ));
        }
        let positions = Positions::index(&rendered.text);
        let warnings = parsed
            .duplicates
            .iter()
            .map(|path| {
                let first = positions.key(path);
                let again = positions.again(path);
                let line = |p: Option<Pos>| p.map(|p| p.line.to_string()).unwrap_or("?".into());
                ConfigWarning {
                    file: file.to_path_buf(),
                    pos: again.or(first),
                    message: format!(
                        "`{}` is written twice (lines {} and {}): the last one is read, as Kamal does",
                        crate::config::locate::dotted(path),
                        line(first),
                        line(again)
                    ),
                }
            })
            .collect();
        Ok(Doc {
            file: file.to_path_buf(),
            value,
            positions,
            ruby: rendered.ruby,
            blocks: rendered.blocks,
            warnings,
        })
    }
}

/// What to read of one deploy file: the destinations named; or with none
/// named, as Kamal would be pointed at it, the file alone (unless it has
/// `require_destination: true`) and each destination with a file beside
/// it, each its own instance. Which of those are skipped is decided when
/// they are read ([`super::load_listed`]).
pub fn sources(file: &Path, destinations: &[String]) -> Vec<KamalSource> {
    if !destinations.is_empty() {
        return destinations
            .iter()
            .map(|d| KamalSource {
                file: file.to_path_buf(),
                destination: Some(d.clone()),
                listed: false,
            })
            .collect();
    }
    std::iter::once(None)
        .chain(destinations_beside(file).into_iter().map(Some))
        .map(|destination| KamalSource {
            file: file.to_path_buf(),
            destination,
            listed: true,
        })
        .collect()
}

/// Destination names that are not destinations: files kept beside the
/// real ones to copy from.
pub(super) const NOT_DESTINATIONS: &[&str] = &["example", "sample", "template", "dist", "default"];
