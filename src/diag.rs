//! Diagnostics: located problems in the user's files, and their three printers (human, GitHub annotations, JSON).

use std::fmt::Write as _;

use serde::Serialize;

use crate::yaml::Span;

/// How bad a diagnostic is. Errors fail the command; warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, pointing into a file of the repository where it can.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable, kebab-case name of the rule (for example `unknown-tier`).
    pub code: &'static str,
    pub message: String,
    /// Repository-relative path, forward slashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(
        flatten,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_span"
    )]
    pub span: Option<Span>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

#[allow(clippy::ref_option)] // the signature serde's `serialize_with` requires
fn ser_span<S: serde::Serializer>(span: &Option<Span>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = s.serialize_map(Some(2))?;
    if let Some(span) = span {
        map.serialize_entry("line", &span.line)?;
        map.serialize_entry("column", &span.col)?;
    }
    map.end()
}

impl Diagnostic {
    /// An error about `file` at `span`.
    #[must_use]
    pub fn error(code: &'static str, file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: Some(file.to_owned()),
            span: Some(span),
            help: None,
        }
    }

    /// An error about the repository as a whole, or a file with no useful position.
    #[must_use]
    pub fn unlocated(code: &'static str, file: Option<&str>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: file.map(str::to_owned),
            span: None,
            help: None,
        }
    }

    /// An error about a whole file, located at its first character so that editors and
    /// GitHub annotations still land on the file.
    #[must_use]
    pub fn at_file_start(code: &'static str, file: &str, message: impl Into<String>) -> Self {
        Diagnostic::error(code, file, Span::new(1, 1, 1), message)
    }

    #[must_use]
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics into a stable order: by file, then position, then message.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.span, a.severity, a.code, &a.message)
            .cmp(&(&b.file, b.span, b.severity, b.code, &b.message))
    });
}

/// Where the printers find a file's text to quote the offending line.
pub trait SourceText {
    fn text(&self, path: &str) -> Option<&str>;
}

/// Prints `diagnostics` for a person, rustc-style: the message, `--> file:line:col`,
/// the source line with a caret under the problem, and the help.
#[must_use]
pub fn human(
    diagnostics: &[Diagnostic],
    sources: &dyn SourceText,
    root: &str,
    color: bool,
) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for d in diagnostics {
        let (label, code) = match d.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let _ = writeln!(
            out,
            "{}{}",
            paint(code, &format!("{label}[{}]", d.code)),
            paint("1", &format!(": {}", visible_line(&d.message)))
        );
        let line_text = match (&d.file, d.span) {
            (Some(file), Some(span)) => sources
                .text(file)
                .and_then(|t| t.lines().nth(span.line - 1))
                .map(|l| (span, l)),
            _ => None,
        };
        let gutter = line_text.map_or(1, |(span, _)| span.line.to_string().len());
        let pad = " ".repeat(gutter);
        if let Some(file) = &d.file {
            let location = match d.span {
                Some(span) => format!("{}:{}:{}", display_path(root, file), span.line, span.col),
                None => display_path(root, file),
            };
            let _ = writeln!(out, "{pad}{} {location}", paint("1;34", "-->"));
        }
        if let Some((span, line)) = line_text {
            let bar = paint("1;34", "|");
            let shown = visible_line(line);
            let before: String = shown.chars().take(span.col - 1).collect();
            let width = span
                .len
                .min(shown.chars().count().saturating_sub(span.col - 1))
                .max(1);
            let carets = paint(code, &"^".repeat(width));
            let _ = writeln!(out, "{pad} {bar}");
            let _ = writeln!(
                out,
                "{} {bar} {shown}",
                paint("1;34", &span.line.to_string())
            );
            let _ = writeln!(
                out,
                "{pad} {bar} {}{carets}",
                before
                    .chars()
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect::<String>()
            );
        }
        if let Some(help) = &d.help {
            let _ = writeln!(
                out,
                "{pad} = {}: {}",
                paint("1", "help"),
                visible_line(help)
            );
        }
        out.push('\n');
    }
    out
}

/// Control characters would let a crafted manifest rewrite the terminal: show them escaped.
fn visible_line(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

/// `file` as the user can open it: repository files under `root`; a file outside the
/// repository (an absolute path, or `<stdin>`) as it is.
fn display_path(root: &str, file: &str) -> String {
    if root.is_empty() || root == "." || file.starts_with('/') || file.starts_with('<') {
        file.to_owned()
    } else {
        format!("{}/{file}", root.trim_end_matches('/'))
    }
}

/// GitHub Actions workflow commands (`::error file=...,line=...,col=...::message`), so
/// problems show as annotations on the pull request's changed lines.
#[must_use]
pub fn github(diagnostics: &[Diagnostic], root: &str) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        if let Some(file) = &d.file {
            props.push(format!(
                "file={}",
                escape_property(&display_path(root, file))
            ));
        }
        if let Some(span) = d.span {
            props.push(format!("line={},col={}", span.line, span.col));
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("tenantops {}", d.code))
        ));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            let _ = write!(message, "\n{help}");
        }
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            props.join(","),
            escape_data(&message)
        );
    }
    out
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One(&'static str);
    impl SourceText for One {
        fn text(&self, _: &str) -> Option<&str> {
            Some(self.0)
        }
    }

    #[test]
    fn human_shows_line_and_caret() {
        let d = Diagnostic::error(
            "unknown-tier",
            "tenants/a.yaml",
            Span::new(2, 7, 7),
            "tier `premuim` does not exist",
        )
        .help("did you mean `premium`?");
        let out = human(&[d], &One("id: a\ntier: premuim\n"), ".", false);
        assert_eq!(
            out,
            "error[unknown-tier]: tier `premuim` does not exist\n --> tenants/a.yaml:2:7\n  |\n2 | tier: premuim\n  |       ^^^^^^^\n  = help: did you mean `premium`?\n\n"
        );
    }

    #[test]
    fn github_escapes_properties_and_data() {
        let d = Diagnostic::error("x", "a,b:c.yaml", Span::new(1, 2, 1), "100% bad\nreally");
        assert_eq!(
            github(&[d], "."),
            "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=tenantops x::100%25 bad%0Areally\n"
        );
    }

    #[test]
    fn control_characters_are_not_echoed() {
        let d = Diagnostic::error("x", "f", Span::new(1, 1, 1), "m");
        let out = human(&[d], &One("a\x1b[2Jb\n"), ".", false);
        assert!(!out.contains('\x1b'));
    }
}
