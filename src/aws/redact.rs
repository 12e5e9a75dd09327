//! Credential material taken out of every AWS error message before anyone sees it: a failing `credential_process` has its standard error quoted into the SDK's error (aws-config's `credential_process.rs`: "external process exited with code N. Stderr: ..."), and whatever a helper prints there — a secret key included — would otherwise reach the terminal and the CI log.
//!
//! Three rules, each blind to what the text is about:
//! - a credential process's quoted standard error is not shown at all;
//! - the value after a key that names a secret (`aws_secret_access_key`,
//!   `SecretAccessKey`, `aws_session_token`, `SessionToken`, `password`), in `=`, `:` or
//!   JSON form, is replaced;
//! - access key ids (`AKIA`/`ASIA`... and 16 letters or digits) keep their first four
//!   characters, and any run of 40 or more base64 characters with upper- and lowercase
//!   letters (a secret key is 40, a session token hundreds; a git commit id is lowercase
//!   hex) is replaced.

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The key names whose values are secrets, lowercased without `_` and `-`.
const SECRET_KEYS: &[&str] = &[
    "awssecretaccesskey",
    "secretaccesskey",
    "secretkey",
    "awssessiontoken",
    "sessiontoken",
    "password",
];

/// The prefixes of AWS access key ids (IAM's unique id prefixes).
const KEY_ID_PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "AIDA", "AROA", "AGPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA",
];

/// `text` without credential material.
#[must_use]
pub fn redact(text: &str) -> String {
    let text = match text.find("Stderr:") {
        Some(at) => format!(
            "{} (not shown: a credential process's output may hold credentials)",
            &text[..at + "Stderr:".len()]
        ),
        None => text.to_owned(),
    };
    let text = redact_key_values(&text);
    redact_tokens(&text)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=')
}

/// Values after secret-naming keys.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        let word_len = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len() - start);
        let word_end = start + word_len;
        out.push_str(&rest[..word_end]);
        let key: String = rest[start..word_end]
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        rest = &rest[word_end..];
        if !SECRET_KEYS.contains(&key.as_str()) {
            continue;
        }
        // `key = value`, `key: value`, `"key": "value"`.
        let sep_len = rest
            .find(|c: char| !(c == '"' || c == '\'' || c == ' ' || c == '=' || c == ':'))
            .unwrap_or(rest.len());
        let sep = &rest[..sep_len];
        if !sep.contains('=') && !sep.contains(':') {
            continue;
        }
        out.push_str(sep);
        rest = &rest[sep_len..];
        let value_len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | ';'))
            .unwrap_or(rest.len());
        if value_len > 0 {
            out.push_str(REDACTED);
            rest = &rest[value_len..];
        }
    }
    out.push_str(rest);
    out
}

/// Access key ids and long mixed-case base64 runs.
fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_token_char) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let len = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
        let token = &rest[..len];
        rest = &rest[len..];
        let key_id = len == 20
            && KEY_ID_PREFIXES.iter().any(|p| token.starts_with(p))
            && token
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let secret = len >= 40
            && token.chars().any(|c| c.is_ascii_uppercase())
            && token.chars().any(|c| c.is_ascii_lowercase());
        if key_id {
            out.push_str(&token[..4]);
            out.push_str("****************");
        } else if secret {
            out.push_str(REDACTED);
        } else {
            out.push_str(token);
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn a_credential_process_stderr_is_not_shown() {
        let got = redact(&format!(
            "Error retrieving credentials: external process exited with code exit status: 1. Stderr: token expired for {SECRET} (short)"
        ));
        assert!(!got.contains("token expired"), "{got}");
        assert!(
            got.ends_with(
                "Stderr: (not shown: a credential process's output may hold credentials)"
            ),
            "{got}"
        );
    }

    #[test]
    fn secrets_after_their_keys_go_in_every_form() {
        for text in [
            "aws_secret_access_key=abc",
            "aws_secret_access_key = abc",
            "AWS_SECRET_ACCESS_KEY: abc",
            r#"{"SecretAccessKey": "abc", "x": 1}"#,
            "SessionToken=abc;",
            "password: abc",
        ] {
            let got = redact(text);
            assert!(!got.contains("abc"), "{text} -> {got}");
            assert!(got.contains(REDACTED), "{text} -> {got}");
        }
    }

    #[test]
    fn key_ids_and_long_secrets_go_and_ordinary_words_stay() {
        let got = redact(&format!(
            "key AKIAIOSFODNN7EXAMPLE secret {SECRET}, session FwoGZXIvYXdzEBYaDHqa0AP1/Yk3cnIHcSKaAWx9XQ=="
        ));
        assert_eq!(
            got,
            "key AKIA**************** secret [redacted], session [redacted]"
        );
        // A commit id, an ARN, a hash tag and a stack status reason stay as they are.
        for text in [
            "commit 943d7a8b5b8d1c1e2f3a4b5c6d7e8f9a0b1c2d3e",
            "arn:aws:cloudformation:us-east-1:123456789012:stack/saas-prod-network/0bd35a60-8f3c-11ef-9e7b-0affd5a2f3e1",
            "tenantops:hash 5f0c6c1f1d2bd0d0a7b0cbb1e1c14e4a3d7e6c1a6d1b0f9c8e7d6c5b4a3f2e1d",
            "Resource handler returned message: \"The CIDR '10.0.64.0/18' conflicts with another subnet\"",
            "the secret key of the stage is kept",
        ] {
            assert_eq!(redact(text), text);
        }
    }
}
