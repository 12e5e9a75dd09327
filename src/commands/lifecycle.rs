//! What the lifecycle commands share (`onboard`, `offboard`, `suspend`, `activate`): reading a control-plane event with limits, the sources it may come from, the flags that name a tenant by id or by event, and printing a state change.

use std::io::Read as _;
use std::path::Path;

use clap::Args;

use super::args::CommitArgs;
use crate::diag::Diagnostic;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::load::Sources;
use crate::model::State;
use crate::onboard::event::{self, RequestKind};
use crate::onboard::{self, Rejected, StateChanged, Target};
use crate::output::{Format, Output, listed};

/// The largest event read: EventBridge's own limit on an event (256 KB).
pub(super) const MAX_EVENT_BYTES: u64 = 256 * 1024;

/// Which tenant a state change is for, and the commit.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The tenant's id.
    #[arg(
        value_name = "ID",
        required_unless_present = "from_event",
        conflicts_with = "from_event"
    )]
    pub id: Option<String>,
    /// Find the tenant from the control plane's EventBridge request in FILE (`-` for
    /// standard input): the tenant whose `control-plane-id` label is its `tenantId`.
    #[arg(long, value_name = "FILE|-")]
    pub from_event: Option<String>,
    /// With `--from-event`, the `source` the control plane's requests come from
    /// [default: `sbt.control.plane`, or `controlPlaneEventSource` before sbt-aws 0.9].
    #[arg(long, value_name = "SOURCE", requires = "from_event")]
    pub event_source: Option<String>,
    #[command(flatten)]
    pub commit: CommitArgs,
}

/// Reads the event file (`-`: standard input), at most [`MAX_EVENT_BYTES`]. Its name in
/// diagnostics is as given, made absolute when `-C` moved the repository root away
/// from the working directory. A larger or non-UTF-8 file is a located refusal.
pub(super) fn read_event(
    path: &str,
    dir: &Path,
) -> Result<Result<(String, String), Rejected>, Failure> {
    let mut bytes = Vec::new();
    let label = if path == "-" {
        std::io::stdin()
            .take(MAX_EVENT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Io("standard input".to_owned(), e))?;
        "<stdin>".to_owned()
    } else {
        // Never block: a FIFO (or a device) would be waited on for a writer, or read
        // without end. Standard input is `-`.
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(Failure::Usage(format!(
                    "--from-event `{path}` is not a regular file (a directory, FIFO or device); pass the event in a file, or `-` to read standard input"
                )));
            }
            _ => {}
        }
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_EVENT_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| Failure::Usage(format!("--from-event `{path}`: cannot read it: {e}")))?;
        if dir == Path::new(".") || Path::new(path).is_absolute() {
            path.to_owned()
        } else {
            std::env::current_dir().map_or_else(
                |_| path.to_owned(),
                |cwd| cwd.join(path).display().to_string(),
            )
        }
    };
    let refuse = |message: String| {
        Ok(Err(Rejected {
            diagnostics: vec![Diagnostic::at_file_start("bad-event", &label, message)],
            sources: Sources::default(),
        }))
    };
    if bytes.len() as u64 > MAX_EVENT_BYTES {
        return refuse(format!(
            "the event is over {MAX_EVENT_BYTES} bytes, larger than any EventBridge event"
        ));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Ok((label, text))),
        Err(_) => refuse("the event is not UTF-8 text, so it is not JSON".to_owned()),
    }
}

/// The `source`s a control-plane request may come from: `--event-source`, else SBT's.
pub(super) fn event_sources(given: Option<&str>) -> Vec<&str> {
    given.map_or_else(|| event::CONTROL_PLANE_SOURCES.to_vec(), |s| vec![s])
}

/// Prints a lifecycle change's problems.
pub(super) fn refused(out: &Output, mut rejected: Rejected) -> Exit {
    out.report(
        &mut rejected.diagnostics,
        &rejected.sources,
        "",
        &serde_json::Value::Null,
    );
    Exit::Invalid
}

/// Runs a state change: tenant `args` names (by id, or by a request of kind `kind`) set
/// to `state`, printed with `next` as the step after it.
pub(super) fn run_state(
    dir: &Path,
    args: &StateArgs,
    out: &Output,
    kind: RequestKind,
    state: State,
    next: &dyn Fn(&StateChanged) -> String,
) -> Result<Exit, Failure> {
    let commit = args.commit.to();
    let result = match (&args.id, &args.from_event) {
        (Some(id), _) => onboard::set_state(dir, &Target::Id(id), state, commit.as_ref())?,
        (None, Some(path)) => {
            let (file, text) = match read_event(path, dir)? {
                Ok(read) => read,
                Err(rejected) => return Ok(refused(out, rejected)),
            };
            let sources = event_sources(args.event_source.as_deref());
            let event = match event::parse(&file, &text, kind, &sources) {
                Ok(e) => e,
                Err(diagnostics) => {
                    let mut quoted = Sources::default();
                    quoted.add(file, text);
                    return Ok(refused(
                        out,
                        Rejected {
                            diagnostics,
                            sources: quoted,
                        },
                    ));
                }
            };
            let target = Target::Event {
                file: &file,
                text: &text,
                event: &event,
            };
            onboard::set_state(dir, &target, state, commit.as_ref())?
        }
        (None, None) => {
            return Err(Failure::Usage(
                "name the tenant: ID or --from-event FILE".to_owned(),
            ));
        }
    };
    let o = match result {
        Ok(o) => o,
        Err(rejected) => return Ok(refused(out, rejected)),
    };
    let word = state.as_str();
    if out.format == Format::Json {
        crate::outln!(
            "{}",
            serde_json::json!({
                "ok": true,
                "tenant": o.id,
                "state": word,
                "already": o.already,
                "written": o.written,
                "lock": o.lock,
                "commit": o.committed.as_ref().map(|c| serde_json::json!({"id": c.id, "branch": c.branch})),
            })
        );
        return Ok(Exit::Success);
    }
    if o.already {
        crate::outln!(
            "ok: tenant `{}` is already {word}; nothing was written",
            o.id
        );
        return Ok(Exit::Success);
    }
    for line in &o.lock {
        crate::outln!("{line}");
    }
    crate::outln!("{word} `{}`: wrote {}", o.id, listed(&o.written));
    if let Some(c) = &o.committed {
        crate::outln!(
            "committed {} on `{}`",
            &c.id[..12.min(c.id.len())],
            c.branch
        );
    }
    crate::outln!("next: {}", next(&o));
    Ok(Exit::Success)
}
