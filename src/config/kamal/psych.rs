//! YAML as Ruby's Psych reads a deploy file: a key written twice in a map
//! is not an error, the last one wins (berth says so, naming both lines).
//! berth's own berth.yaml keeps its stricter rules.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde_yaml::Value;
use serde_yaml::value::{Tag, TaggedValue};

use crate::config::locate::Seg;

/// A document, and the paths of the keys written twice in their map.
pub(super) struct Parsed {
    pub value: Value,
    pub duplicates: Vec<Vec<Seg>>,
}

pub(super) fn parse(text: &str) -> Result<Parsed, serde_yaml::Error> {
    let duplicates = RefCell::new(Vec::new());
    let value = match serde_yaml::Deserializer::from_str(text).next() {
        // An empty file is an empty document.
        None => Value::Null,
        Some(doc) => Seed {
            path: Vec::new(),
            duplicates: &duplicates,
        }
        .deserialize(doc)?,
    };
    Ok(Parsed {
        value,
        duplicates: duplicates.into_inner(),
    })
}

struct Seed<'a> {
    path: Vec<Seg>,
    duplicates: &'a RefCell<Vec<Vec<Seg>>>,
}

impl<'a> Seed<'a> {
    fn at(&self, seg: Seg) -> Seed<'a> {
        let mut path = self.path.clone();
        path.push(seg);
        Seed {
            path,
            duplicates: self.duplicates,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self.at(Seg::Index(out.len())))? {
            out.push(v);
        }
        Ok(Value::Sequence(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_yaml::Mapping::new();
        while let Some(k) = map.next_key_seed(self.at(Seg::Key(String::new())))? {
            let seg = Seg::Key(match &k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => String::new(),
            });
            let seed = self.at(seg);
            let path = seed.path.clone();
            let v = map.next_value_seed(seed)?;
            if out.insert(k, v).is_some() {
                self.duplicates.borrow_mut().push(path);
            }
        }
        Ok(Value::Mapping(out))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        // A tagged value (`!secret x`): kept with its tag, as serde_yaml does.
        let (tag, variant) = data.variant::<String>()?;
        let value = variant.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_of_a_key_written_twice_wins_and_is_named() {
        let p = parse("a: 1\nb:\n  c: x\n  c: y\na: 2\nl: [1, {k: v}]\n").unwrap();
        assert_eq!(p.value["a"], Value::Number(2.into()));
        assert_eq!(p.value["b"]["c"], Value::String("y".into()));
        assert_eq!(p.value["l"][1]["k"], Value::String("v".into()));
        let key = |s: &str| Seg::Key(s.into());
        assert_eq!(p.duplicates, vec![vec![key("b"), key("c")], vec![key("a")]]);
        // Anchors, aliases and tags read as serde_yaml reads them.
        let p = parse("x: &a {h: 1}\ny: *a\nz: !tag v\n").unwrap();
        assert_eq!(p.value["y"]["h"], Value::Number(1.into()));
        assert!(matches!(p.value["z"], Value::Tagged(_)));
        assert!(parse("").unwrap().value.is_null());
        assert!(parse("a: [").is_err());
    }
}
