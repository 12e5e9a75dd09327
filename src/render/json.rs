//! Reading a rendered JSON template back: trailing commas allowed (so a template can end every entry of a loop with one), duplicate keys refused (a second resource with the same logical id is a template bug, never a silent overwrite).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Sorts every object's keys, recursively: the canonical form of rendered JSON and of
/// the generated schemas. (The AWS SDK turns on `serde_json`'s `preserve_order`, so maps
/// keep insertion order unless sorted.)
pub fn canonical(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(canonical);
        }
        Value::Array(items) => items.iter_mut().for_each(canonical),
        _ => {}
    }
}

/// Parses `text`, returning `(line, column, message)` on error. Positions refer to
/// `text` itself: a dropped trailing comma is replaced by a space, not removed.
///
/// # Errors
/// Invalid JSON, or an object with a key twice.
pub fn parse(text: &str) -> Result<Value, (usize, usize, String)> {
    let cleaned = without_trailing_commas(text);
    let mut de = serde_json::Deserializer::from_slice(&cleaned);
    let parsed = Strict::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map(|s| s.0).map_err(|e| {
        let message = e.to_string();
        // serde_json appends the position, which the caller reports itself.
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |cut| &message[..cut])
            .to_owned();
        (e.line(), e.column(), message)
    })
}

/// `text` with every comma that is followed (after whitespace) by `}` or `]` turned
/// into a space. Strings are skipped, escapes included.
fn without_trailing_commas(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b',' {
            let next = bytes[i + 1..]
                .iter()
                .find(|c| !c.is_ascii_whitespace())
                .copied();
            if matches!(next, Some(b'}' | b']')) {
                out[i] = b' ';
            }
        }
        i += 1;
    }
    out
}

/// A JSON value whose objects never repeat a key.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("key `{key}` appears twice")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas_are_dropped_outside_strings() {
        let v = parse("{\"a\": [1, 2,], \"b\": \",}\",\n}").unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": ",}"}));
        let v = parse("{\"q\": \"\\\",]\"}").unwrap();
        assert_eq!(v["q"], "\",]");
    }

    #[test]
    fn duplicate_keys_and_bad_json_are_located() {
        let (line, _, message) = parse("{\n\"a\": 1,\n\"a\": 2\n}").unwrap_err();
        assert_eq!(line, 3);
        assert!(message.contains("key `a` appears twice"), "{message}");
        let (line, col, _) = parse("{\n  \"a\": ]\n}").unwrap_err();
        assert_eq!((line, col), (2, 8));
        assert!(parse("{} {}").is_err());
    }
}
