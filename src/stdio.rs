//! Standard output and error that a reader who stops reading does not crash: `out!`, `outln!`, `err!` and `errln!` replace `print!` and its kin, which panic when a write fails (`tenantops plan --format json | head -1` exited 101 with a panic message).
//!
//! Rust ignores `SIGPIPE`, so a write to a pipe whose reader has gone fails with
//! `BrokenPipe`. That stream is then closed for the rest of the run: nothing more is
//! written to it, and the command goes on to its end and exits with its own code (an
//! `apply` piped into `head` still finishes the stacks in flight and releases the stage
//! lock). Any other write error is reported once on standard error, and the stream is
//! closed the same way.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to standard output, unless it is closed.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    match args.as_str() {
        Some(text) => write_out_bytes(text.as_bytes()),
        None => write_out_bytes(std::fmt::format(args).as_bytes()),
    }
}

/// Writes `bytes` to standard output, unless it is closed.
pub fn write_out_bytes(bytes: &[u8]) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            write_err(format_args!(
                "error: could not write standard output: {e}\n"
            ));
        }
    }
}

/// Writes `args` to standard error, unless it is closed (there is nowhere left to
/// say that it failed).
pub fn write_err(args: std::fmt::Arguments<'_>) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if std::io::stderr().lock().write_fmt(args).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// `print!` that survives a closed standard output.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdio::write_out(format_args!($($arg)*))
    };
}

/// `println!` that survives a closed standard output.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::stdio::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdio::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that survives a closed standard error.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::stdio::write_err(format_args!($($arg)*))
    };
}

/// `eprintln!` that survives a closed standard error.
#[macro_export]
macro_rules! errln {
    () => {
        $crate::stdio::write_err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdio::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
