//! The fast path from a rendered JSON template to its canonical text: one pass that borrows every key and scalar from the rendered text, sorts each object's keys and writes the result, with no `serde_json::Value` in between.
//!
//! It takes only what it can copy byte for byte and still match what the strict path
//! ([`super::json::parse`], then `serde_json`'s compact writer) would print: strings
//! whose escapes are ones `serde_json` writes itself (`\"`, `\\`, `\n`, `\r`, `\t`,
//! `\b`, `\f`), integers in their shortest form, `true`, `false`, `null`, keys without
//! escapes, and trailing commas (dropped). Anything else — another escape, a float, a
//! duplicate key, invalid JSON — returns `None`, and the caller takes the strict path,
//! which either renders the same bytes more slowly or reports the error, located.
//! A test holds the two paths equal on every template the project ships.

/// A JSON value borrowing its keys and scalars from the text it was read from.
enum Raw<'a> {
    Object(Vec<(&'a str, Raw<'a>)>),
    Array(Vec<Raw<'a>>),
    /// A string's content between its quotes, escapes as written.
    String(&'a str),
    /// A number or literal, as written.
    Token(&'a str),
}

/// What the checks after rendering need to know of a template's top level.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Shape {
    /// `Resources` is an object.
    pub template: bool,
    pub resources: usize,
    pub outputs: usize,
    /// Declared parameters, each with whether it has a `Default`.
    pub parameters: Vec<(String, bool)>,
}

impl Shape {
    /// The shape of a parsed template.
    pub(super) fn of(value: &serde_json::Value) -> Shape {
        let object = |key: &str| value.get(key).and_then(serde_json::Value::as_object);
        Shape {
            template: object("Resources").is_some(),
            resources: object("Resources").map_or(0, serde_json::Map::len),
            outputs: object("Outputs").map_or(0, serde_json::Map::len),
            parameters: object("Parameters")
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.get("Default").is_some()))
                .collect(),
        }
    }
}

/// `text` (rendered JSON, trailing commas allowed) as canonical JSON, with its shape;
/// `None` when the strict path must decide.
pub(super) fn canonical(text: &str) -> Option<(String, Shape)> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        at: 0,
    };
    let mut value = reader.value(0)?;
    reader.skip_space();
    if reader.at != reader.bytes.len() {
        return None;
    }
    sort(&mut value)?;
    let shape = shape(&value)?;
    let mut out = String::with_capacity(text.len());
    write(&value, &mut out);
    Some((out, shape))
}

/// Deeper than this, the strict path decides (and `serde_json` refuses at 128).
const MAX_DEPTH: usize = 100;

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn skip_space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    fn value(&mut self, depth: usize) -> Option<Raw<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut entries = Vec::new();
                loop {
                    match self.peek()? {
                        b'}' => {
                            self.at += 1;
                            return Some(Raw::Object(entries));
                        }
                        b'"' => {
                            let key = self.string()?;
                            if key.contains('\\') {
                                return None;
                            }
                            if self.peek()? != b':' {
                                return None;
                            }
                            self.at += 1;
                            entries.push((key, self.value(depth + 1)?));
                            self.separator(b'}')?;
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek()? == b']' {
                        self.at += 1;
                        return Some(Raw::Array(items));
                    }
                    items.push(self.value(depth + 1)?);
                    self.separator(b']')?;
                }
            }
            b'"' => self.string().map(Raw::String),
            _ => self.token().map(Raw::Token),
        }
    }

    /// After an entry: a comma (a trailing one included), or the closing bracket,
    /// left for the caller.
    fn separator(&mut self, close: u8) -> Option<()> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(())
            }
            b if b == close => Some(()),
            _ => None,
        }
    }

    /// A string's content; the reader is at its opening quote.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.at + 1;
        let mut i = start;
        loop {
            // The next quote or backslash; no control character may come before it.
            let n = memchr::memchr2(b'"', b'\\', self.bytes.get(i..)?)?;
            if self.bytes[i..i + n].iter().any(|b| *b < 0x20) {
                return None;
            }
            i += n;
            if self.bytes[i] == b'"' {
                break;
            }
            if !matches!(
                self.bytes.get(i + 1)?,
                b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f'
            ) {
                return None;
            }
            i += 2;
        }
        self.at = i + 1;
        // Quotes and backslashes are ASCII, so these are character boundaries.
        self.text.get(start..i)
    }

    /// An integer in its shortest form, or a literal.
    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        let end = self.bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
            .map_or(self.bytes.len(), |n| start + n);
        let token = self.text.get(start..end)?;
        self.at = end;
        let digits = token.strip_prefix('-').unwrap_or(token);
        let integer = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
            && token != "-0"
            && (token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok());
        (integer || matches!(token, "true" | "false" | "null")).then_some(token)
    }
}

/// Sorts every object's keys; `None` on a key twice (the strict path locates it).
fn sort(value: &mut Raw<'_>) -> Option<()> {
    match value {
        Raw::Object(entries) => {
            entries.sort_by(|a, b| a.0.cmp(b.0));
            if entries.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            entries.iter_mut().try_for_each(|(_, v)| sort(v))
        }
        Raw::Array(items) => items.iter_mut().try_for_each(sort),
        Raw::String(_) | Raw::Token(_) => Some(()),
    }
}

fn shape(value: &Raw<'_>) -> Option<Shape> {
    let Raw::Object(top) = value else {
        return None;
    };
    let get = |key: &str| {
        top.binary_search_by(|(k, _)| (*k).cmp(key))
            .ok()
            .map(|i| &top[i].1)
    };
    let entries = |v: Option<&Raw<'_>>| match v {
        Some(Raw::Object(e)) => e.len(),
        _ => 0,
    };
    let parameters = match get("Parameters") {
        Some(Raw::Object(params)) => params
            .iter()
            .map(|(k, v)| {
                let default = matches!(v, Raw::Object(e) if e.iter().any(|(k, _)| *k == "Default"));
                ((*k).to_owned(), default)
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Shape {
        template: matches!(get("Resources"), Some(Raw::Object(_))),
        resources: entries(get("Resources")),
        outputs: entries(get("Outputs")),
        parameters,
    })
}

fn write(value: &Raw<'_>, out: &mut String) {
    match value {
        Raw::Object(entries) => {
            out.push('{');
            for (i, (key, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(key);
                out.push_str("\":");
                write(v, out);
            }
            out.push('}');
        }
        Raw::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        Raw::String(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Raw::Token(t) => out.push_str(t),
    }
}

#[cfg(test)]
mod tests {
    use super::{Shape, canonical};

    /// What the strict path prints for `text`.
    fn strict(text: &str) -> String {
        let mut v = super::super::json::parse(text).unwrap();
        super::super::json::canonical(&mut v);
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn the_fast_path_prints_what_the_strict_path_prints() {
        for text in [
            r#"{"b": 1, "a": [true, false, null, -3, 0, 18446744073709551615,], "Resources": {},}"#,
            "{\"z\": \"line\\nnext \\\"q\\\" back\\\\slash \\t é ✓\", \"a\": {\"y\": [], \"x\": {}}}",
            "  {\n  \"k\" : [ [ ], { } , \"\" ]\n}\n",
        ] {
            let (fast, _) = canonical(text).unwrap_or_else(|| panic!("fast path refused {text}"));
            assert_eq!(fast, strict(text), "{text}");
        }
    }

    #[test]
    fn what_it_cannot_copy_goes_to_the_strict_path() {
        for text in [
            r#"{"a": "\u00e9"}"#,
            r#"{"a": "\/"}"#,
            r#"{"a": 1.5}"#,
            r#"{"a": 1e3}"#,
            r#"{"a": 01}"#,
            r#"{"a": -0}"#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"a\n": 1}"#,
            r#"{"a": }"#,
            r#"{"a": 1} {}"#,
            r#"{"a": 1,, "b": 2}"#,
            "[1, 2]",
            "{\"a\": \"tab\tinside\"}",
            r#"{"a": 99999999999999999999}"#,
            r#"{"a": nul}"#,
        ] {
            assert!(canonical(text).is_none(), "{text}");
        }
    }

    #[test]
    fn the_shape_is_the_strict_paths_shape() {
        let text = r#"{"Parameters": {"B": {"Type": "String", "Default": "x"}, "A": {"Type": "String"}}, "Resources": {"R": {}, "S": {}}, "Outputs": {"O": {}}}"#;
        let (_, fast) = canonical(text).unwrap();
        let mut v = super::super::json::parse(text).unwrap();
        super::super::json::canonical(&mut v);
        assert_eq!(fast, Shape::of(&v));
        assert_eq!(
            fast.parameters,
            vec![("A".to_owned(), false), ("B".to_owned(), true)]
        );
        assert_eq!((fast.resources, fast.outputs, fast.template), (2, 1, true));
    }
}
