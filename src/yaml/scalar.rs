//! Scalar resolution with the YAML 1.2 core schema: which plain scalars are null, booleans or numbers, and the core tags.

use serde_json::Number;
use yaml_rust2::parser::Tag;
use yaml_rust2::scanner::TScalarStyle;

use super::{NodeValue, Span, YamlError};

/// Whether `text` written as a plain scalar would read back as something other than
/// that string (a number, boolean or null), so it must be quoted.
#[must_use]
pub fn needs_quotes(text: &str) -> bool {
    // Ids and names (a lowercase letter, then letters, digits and hyphens) are plain
    // strings in the core schema unless they are one of its words: no number, float or
    // special value starts with a lowercase letter. A 100,000-tenant lock asks this of
    // every key.
    let bytes = text.as_bytes();
    if bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return matches!(text, "null" | "true" | "false");
    }
    !matches!(resolve_plain(text.to_owned(), Span::default()), Ok(NodeValue::String(s)) if s == text)
        || text.trim() != text
        || text.contains(|c: char| ":#{}[],&*!|>'\"%@`".contains(c) || c.is_control())
}

pub(super) fn unsupported_tag(tag: &Tag, span: Span) -> YamlError {
    YamlError {
        span,
        message: format!("unsupported YAML tag `{}{}`", tag.handle, tag.suffix),
        help: Some("manifests use plain values; remove the tag".to_owned()),
    }
}

/// Resolves one scalar with the YAML 1.2 core schema, honouring the core tags.
pub(super) fn resolve_scalar(
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
    span: Span,
) -> Result<NodeValue, YamlError> {
    if let Some(tag) = tag {
        if tag.handle != "tag:yaml.org,2002:" {
            return Err(unsupported_tag(tag, span));
        }
        return match tag.suffix.as_str() {
            "str" => Ok(NodeValue::String(text)),
            "null" | "bool" | "int" | "float" => {
                let value = resolve_plain(text.clone(), span)?;
                let fits = matches!(
                    (tag.suffix.as_str(), &value),
                    ("null", NodeValue::Null)
                        | ("bool", NodeValue::Bool(_))
                        | ("float", NodeValue::Number(_))
                ) || (tag.suffix == "int"
                    && matches!(&value, NodeValue::Number(n) if !n.is_f64()));
                if fits {
                    Ok(value)
                } else {
                    Err(YamlError::new(
                        span,
                        format!("`{text}` is not a valid `!!{}` value", tag.suffix),
                    ))
                }
            }
            _ => Err(unsupported_tag(tag, span)),
        };
    }
    if style == TScalarStyle::Plain {
        resolve_plain(text, span)
    } else {
        Ok(NodeValue::String(text))
    }
}

fn resolve_plain(text: String, span: Span) -> Result<NodeValue, YamlError> {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(NodeValue::Null),
        "true" | "True" | "TRUE" => return Ok(NodeValue::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(NodeValue::Bool(false)),
        _ => {}
    }
    match resolve_int(&text) {
        Int::Fits(number) => return Ok(NodeValue::Number(number)),
        Int::TooBig => {
            return Err(YamlError::new(
                span,
                format!("the number `{text}` is out of range"),
            ));
        }
        Int::Not => {}
    }
    if is_float(&text) {
        return match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Ok(NodeValue::Number(n)),
            None => Err(YamlError::new(
                span,
                format!("the number `{text}` is out of range"),
            )),
        };
    }
    Ok(NodeValue::String(text))
}

enum Int {
    Not,
    Fits(Number),
    TooBig,
}

fn resolve_int(text: &str) -> Int {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (oct, 8)
    } else {
        (text, 10)
    };
    let body = if radix == 10 {
        digits.strip_prefix(['-', '+']).unwrap_or(digits)
    } else {
        digits
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Int::Not;
    }
    if let Ok(v) = i64::from_str_radix(digits, radix) {
        return Int::Fits(Number::from(v));
    }
    match u64::from_str_radix(digits.trim_start_matches('+'), radix) {
        Ok(v) => Int::Fits(Number::from(v)),
        Err(_) => Int::TooBig,
    }
}

fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(cut) => (&body[..cut], Some(&body[cut + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(cut) => (&mantissa[..cut], Some(&mantissa[cut + 1..])),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}
