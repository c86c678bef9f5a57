//! Names that end up in container names, labels, lock paths and DNS: app,
//! role and host names must be DNS labels. Dokku learnt this late (names with
//! `_` became invalid in an upgrade); berth refuses them from the start and
//! says what the valid spelling would be.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Checks `name` is a DNS label (RFC 1123): 1–63 of `a-z`, `0-9`, `-`, not
/// starting or ending with `-`. On failure, says why and suggests a fix.
pub fn check_label(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        return Ok(());
    }
    let why = if name.is_empty() {
        "is empty".to_string()
    } else if name.len() > 63 {
        "is longer than 63 characters".to_string()
    } else if name.contains('_') {
        "contains `_`".to_string()
    } else if name.bytes().any(|b| b.is_ascii_uppercase()) {
        "contains capital letters".to_string()
    } else if name.starts_with('-') || name.ends_with('-') {
        "starts or ends with `-`".to_string()
    } else {
        "contains characters other than a-z, 0-9 and `-`".to_string()
    };
    let hint = match suggest_label(name) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    };
    Err(format!(
        "{kind} name `{name}` {why}: {kind} names must be DNS labels (lowercase letters, digits and `-`){hint}"
    ))
}

/// The nearest valid label to `name`, if there is one.
pub fn suggest_label(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(63).collect();
    let trimmed = trimmed.trim_end_matches('-').to_string();
    (!trimmed.is_empty() && trimmed != name).then_some(trimmed)
}

macro_rules! label_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $ty(String);

        impl $ty {
            pub fn new(name: &str) -> Result<Self, String> {
                check_label($kind, name).map(|()| Self(name.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// So command lines parse names (clap refuses a bad one, saying why).
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::new(s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

label_type!(
    /// An app's name: a DNS label.
    AppName,
    "app"
);
label_type!(
    /// A role's name (web, worker, ...): a DNS label.
    RoleName,
    "role"
);
label_type!(
    /// A host's name in the fleet config: a DNS label.
    HostName,
    "host"
);
label_type!(
    /// A destination (staging, production, ...): a DNS label.
    DestinationName,
    "destination"
);

/// The closest of `candidates` to `word`, when it is close enough to be the
/// likely intent (a typo, not a different word).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl RoleName {
    /// `web`: the default primary role.
    pub fn web() -> Self {
        RoleName("web".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["web", "demo-2", "a", "0day"] {
            assert!(check_label("app", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_and_suggests() {
        let e = check_label("app", "my_app").unwrap_err();
        assert!(e.contains("contains `_`"), "{e}");
        assert!(e.contains("did you mean `my-app`?"), "{e}");
        let e = check_label("app", "MyApp").unwrap_err();
        assert!(e.contains("capital"), "{e}");
        assert!(e.contains("`myapp`"), "{e}");
        assert!(check_label("app", "-x").is_err());
        assert!(check_label("app", "").is_err());
        assert!(check_label("app", &"a".repeat(64)).is_err());
    }

    #[test]
    fn suggestion_is_valid_or_absent() {
        for bad in ["my_app", "Foo.Bar", "__", "a--b_", "Ünïcode app"] {
            if let Some(s) = suggest_label(bad) {
                assert!(check_label("app", &s).is_ok(), "{bad} -> {s}");
            }
        }
        assert_eq!(suggest_label("__"), None);
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys = ["healthcheck", "hosts", "image", "roles"];
        assert_eq!(did_you_mean("helthcheck", keys), Some("healthcheck"));
        assert_eq!(did_you_mean("role", keys), Some("roles"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
