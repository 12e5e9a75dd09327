//! Progress of an apply on stderr: a live line per stack in flight on a terminal (indicatif), plain timestamped lines otherwise (CI logs).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
pub enum Progress {
    /// A spinner per stack in flight, finished lines above them.
    Terminal {
        bars: MultiProgress,
        active: Mutex<HashMap<String, ProgressBar>>,
    },
    /// `2026-11-27T19:30:00Z <stack> <message>` lines.
    Plain,
    /// Nothing (library callers and tests that only read the report).
    Silent,
}

impl Progress {
    /// Live view on a terminal, plain lines elsewhere.
    #[must_use]
    pub fn for_stderr() -> Progress {
        use std::io::IsTerminal as _;
        if std::io::stderr().is_terminal() {
            Progress::Terminal {
                bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                active: Mutex::new(HashMap::new()),
            }
        } else {
            Progress::Plain
        }
    }

    /// A stack starts `what` (create, update, ...).
    pub fn begin(&self, stack: &str, what: &str) {
        match self {
            Progress::Terminal { bars, active } => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(stack.to_owned());
                bar.set_message(what.to_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Ok(mut active) = active.lock() {
                    active.insert(stack.to_owned(), bar);
                }
            }
            Progress::Plain => line(stack, what),
            Progress::Silent => {}
        }
    }

    /// A step within a stack's work.
    pub fn step(&self, stack: &str, what: &str) {
        match self {
            Progress::Terminal { active, .. } => {
                if let Some(bar) = active.lock().ok().and_then(|a| a.get(stack).cloned()) {
                    bar.set_message(what.to_owned());
                }
            }
            Progress::Plain => line(stack, what),
            Progress::Silent => {}
        }
    }

    /// A stack is done; `what` is its result.
    pub fn end(&self, stack: &str, what: &str) {
        match self {
            Progress::Terminal { bars, active } => {
                let bar = active.lock().ok().and_then(|mut a| a.remove(stack));
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    bars.remove(&bar);
                }
                let _ = bars.println(format!("{stack} {what}"));
            }
            Progress::Plain => line(stack, what),
            Progress::Silent => {}
        }
    }

    /// A line about the run as a whole.
    pub fn note(&self, what: &str) {
        match self {
            Progress::Terminal { bars, .. } => {
                let _ = bars.println(what);
            }
            Progress::Plain => {
                let _ = writeln!(std::io::stderr(), "{} {what}", timestamp(SystemTime::now()));
            }
            Progress::Silent => {}
        }
    }
}

fn line(stack: &str, what: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "{} {stack} {what}",
        timestamp(SystemTime::now())
    );
}

/// RFC 3339 UTC to the second.
#[must_use]
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_808_096);
        assert_eq!(timestamp(t), "2026-11-27T19:34:56Z");
        let leap = UNIX_EPOCH + Duration::from_hours(264_384);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00Z");
    }
}
