//! Human durations in config files: `500ms`, `5s`, `2m`, `1h`, `1m30s`.
//!
//! A bare number is refused rather than guessed: `5` could mean seconds
//! (Kamal) or milliseconds, and a wrong guess makes a timeout silently wrong.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way operators write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

/// Parses `1m30s`-style text.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration: write e.g. `5s`, `2m` or `500ms`".into());
    }
    // Zero is zero in every unit: `drain_timeout: 0` is unambiguous.
    if t.chars().all(|c| c == '0') {
        return Ok(Duration::ZERO);
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "duration `{t}` needs a unit: write `{t}s` for seconds (units: ms, s, m, h)"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration `{t}`: expected a number before `{rest}` (e.g. `5s`, `1m30s`)"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration `{t}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => {
                return Err(format!(
                    "invalid duration `{t}`: `{n}` needs a unit (ms, s, m, h)"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration `{t}`: unknown unit `{other}` (use ms, s, m or h)"
                ));
            }
        };
        total = total.saturating_add(part);
    }
    Ok(total)
}

/// Formats a duration the way [`parse`] reads it.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let text = match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a duration such as `5s` or `2m`"))?
        {
            Raw::Text(t) => t,
            Raw::Number(n) => n.to_string(),
        };
        parse(&text)
            .map(HumanDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse(" 10s "), Ok(Duration::from_secs(10)));
    }

    #[test]
    fn refuses_unclear_text_with_a_hint() {
        assert!(parse("5").unwrap_err().contains("`5s`"));
        assert!(parse("5 sec").unwrap_err().contains("unknown unit"));
        assert!(parse("fast").unwrap_err().contains("expected a number"));
        assert!(parse("5d").unwrap_err().contains("unknown unit `d`"));
        assert!(parse("").is_err());
        assert_eq!(parse("0"), Ok(Duration::ZERO), "zero needs no unit");
    }

    #[test]
    fn formats_round_trip() {
        for text in ["0s", "250ms", "5s", "2m", "1h", "1m30s", "1h1m1s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
