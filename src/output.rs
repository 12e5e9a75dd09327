//! Where and how results are printed: the output format, colour, diagnostics with a closing line, fatal errors, and stale generated files.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use clap::ValueEnum;

use crate::diag::{self, Diagnostic};
use crate::failure::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Github,
    Json,
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Where and how results are printed.
pub struct Output {
    pub format: Format,
    color: bool,
    root: String,
    /// Whether the command writes files, so a failure says that it wrote nothing.
    writes: bool,
}

impl Output {
    /// Output in `format` and `color` for a repository at `dir`; `writes` says whether
    /// the command writes files, so that a failure can say it wrote nothing.
    #[must_use]
    pub fn new(format: Format, color: Color, dir: &Path, writes: bool) -> Self {
        let color = match color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        let root = dir.to_string_lossy().trim_end_matches('/').to_owned();
        Output {
            format,
            color,
            root: if root == "." { String::new() } else { root },
            writes,
        }
    }

    /// Prints diagnostics and a closing line; `ok` is the success line.
    pub(crate) fn report(
        &self,
        diagnostics: &mut [Diagnostic],
        sources: &dyn diag::SourceText,
        ok: &str,
        extra: &serde_json::Value,
    ) {
        diag::sort(diagnostics);
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = diagnostics.len() - errors;
        match self.format {
            Format::Human | Format::Markdown => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(
                    diag::human(diagnostics, sources, &self.root, self.color).as_bytes(),
                );
                if errors > 0 {
                    let _ = writeln!(err, "{}", self.failed_line(errors, warnings));
                } else {
                    let _ = err.flush();
                    crate::outln!(
                        "{ok}{}",
                        if warnings > 0 {
                            format!(" ({warnings} warning{})", plural(warnings))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            Format::Github => {
                crate::out!("{}", diag::github(diagnostics, &self.root));
                if errors > 0 {
                    crate::errln!("{}", self.failed_line(errors, warnings));
                } else {
                    crate::outln!("{ok}");
                }
            }
            Format::Json => {
                let doc = serde_json::json!({
                    "ok": errors == 0,
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": diagnostics,
                    "summary": extra,
                });
                crate::outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
        }
    }

    /// Prints warnings alone (no closing line) to standard error: human text, or
    /// annotations under `--format github`; JSON output carries none.
    pub(crate) fn warnings(&self, diagnostics: &[Diagnostic], sources: &dyn diag::SourceText) {
        if diagnostics.is_empty() {
            return;
        }
        let mut sorted = diagnostics.to_vec();
        diag::sort(&mut sorted);
        match self.format {
            Format::Human | Format::Markdown => {
                crate::err!("{}", diag::human(&sorted, sources, &self.root, self.color));
            }
            Format::Github => crate::out!("{}", diag::github(&sorted, &self.root)),
            Format::Json => {}
        }
    }

    fn failed_line(&self, errors: usize, warnings: usize) -> String {
        let mut line = format!("error: {errors} problem{} found", plural(errors));
        if warnings > 0 {
            let _ = write!(line, " ({warnings} warning{})", plural(warnings));
        }
        if self.writes {
            line.push_str("; nothing was written");
        }
        if self.color {
            format!("\x1b[1;31m{line}\x1b[0m")
        } else {
            line
        }
    }

    pub(crate) fn fatal(&self, error: &Failure) {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        match self.format {
            Format::Json => crate::outln!("{}", serde_json::json!({"ok": false, "error": message})),
            Format::Github => crate::outln!(
                "::error title=tenantops::{}",
                message.replace('%', "%25").replace('\n', "%0A")
            ),
            Format::Human | Format::Markdown => crate::errln!("error: {message}"),
        }
    }

    /// A plain message line (human: stdout; json: as `{"message"}`).
    pub(crate) fn stale(&self, lines: &[String], help: &str) {
        match self.format {
            Format::Json => crate::outln!(
                "{}",
                serde_json::json!({"ok": false, "stale": lines, "help": help})
            ),
            Format::Github => {
                for line in lines {
                    crate::outln!("::error title=tenantops out of date::{line}");
                }
            }
            Format::Human | Format::Markdown => {
                for line in lines {
                    crate::errln!("error: {line}");
                }
                crate::errln!("  = help: {help}");
            }
        }
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The files, each quoted, joined with "and".
pub(crate) fn listed(files: &[String]) -> String {
    files
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(" and ")
}
