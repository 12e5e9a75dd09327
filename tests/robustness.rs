//! No input makes tenantops panic: thousands of mutated manifests go through the whole load → decode → validate pipeline in-process, and a reader that closes the output pipe ends only the output.

mod common;

use common::Fixture;
use tenantops::load::{self, WorkTree};
use tenantops::{lockfile, repo, validate};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

const SNIPPETS: &[&str] = &[
    "\n",
    ":",
    " ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "!!str ",
    "!x ",
    "'",
    "\"",
    "#",
    "---\n",
    "...\n",
    "\t",
    "? ",
    "|\n  ",
    ">-\n  ",
    "~",
    "0x",
    "1e999",
    "-",
    "\u{430}",
    "\u{1b}[2J",
    "\u{feff}",
    "\\",
    "%YAML 1.2\n",
    "<<: *a\n",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if !chars.is_empty() => {
                let end = (at + rng.below(8)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            1 => {
                let snippet = SNIPPETS[rng.below(SNIPPETS.len())];
                chars.splice(at..at, snippet.chars());
            }
            _ => {
                let c =
                    char::from_u32(u32::try_from(rng.next() % 0x250).unwrap_or(65)).unwrap_or('x');
                chars.insert(at, c);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_manifests_never_panic() {
    let f = Fixture::example();
    let targets = [
        "tenants/acme.yaml",
        "tenants/wayne.yaml",
        "tiers/premium.yaml",
        "tenantops.yaml",
        "tenants.lock",
    ];
    let originals: Vec<String> = targets.iter().map(|t| f.read(t)).collect();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let store = WorkTree::new(f.path()).unwrap();
    let mut failures = 0;
    for round in 0..1500 {
        let which = rng.below(targets.len());
        let text = mutate(&mut rng, &originals[which]);
        f.write(targets[which], &text);
        let outcome = std::panic::catch_unwind(|| {
            let (raw, diags) = load::load(&store).unwrap();
            let (repo, mut diags) = repo::decode(raw, diags);
            diags.extend(validate::validate(&repo));
            // The parser's own panics are caught and reported; they must not happen either.
            assert!(
                !diags
                    .iter()
                    .any(|d| d.message.contains("the YAML parser failed"))
            );
            let _ = tenantops::diag::human(&diags, &repo.sources, ".", false);
            let _ = tenantops::diag::github(&diags, ".");
            let _ = serde_json::to_string(&diags).unwrap();
            if let Some((lock, _)) = lockfile::relock(&repo) {
                let _ = lockfile::to_text(&lock);
            }
        });
        if outcome.is_err() {
            failures += 1;
            eprintln!("round {round}: panic on {}:\n{text}", targets[which]);
        }
        f.write(targets[which], &originals[which]);
    }
    assert_eq!(failures, 0);
}

/// Runs tenantops with `stdout` (or `stderr`) a pipe whose reader has already gone, as
/// in `tenantops plan --format json | head -1` once `head` has its line: every write
/// fails with `BrokenPipe`. Returns the exit code and what went to the other stream.
fn with_closed_pipe(
    dir: &std::path::Path,
    args: &[&str],
    close_stderr: bool,
) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantops"));
    cmd.arg("-C").arg(dir).args(args).env("NO_COLOR", "1");
    let other = tempfile::NamedTempFile::new().expect("temp");
    let other_file = other.reopen().expect("reopen");
    if close_stderr {
        cmd.stderr(writer).stdout(other_file);
    } else {
        cmd.stdout(writer).stderr(other_file);
    }
    let status = cmd.status().expect("tenantops");
    (
        status.code(),
        std::fs::read_to_string(other.path()).unwrap_or_default(),
    )
}

/// A reader that stops reading ends nothing but the output: no panic (exit 101 with
/// "failed printing to stdout"), the command's own exit code, and nothing on the other
/// stream about it. Before, every command here panicked.
#[test]
fn a_closed_output_pipe_is_no_panic() {
    let f = Fixture::example();
    f.commit("fleet");
    for args in [
        &["validate"][..],
        &["validate", "--format", "json"],
        &["validate", "--format", "github"],
        &["plan", "--base", "HEAD", "--format", "json"],
        &["plan", "--base", "HEAD"],
        &["schema", "--check"],
        &["completions", "bash"],
        &["man"],
        &["lock", "--check"],
    ] {
        let (code, stderr) = with_closed_pipe(f.path(), args, false);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
    }
    // Errors go to stderr: with it closed too, an invalid repository exits 1, no panic.
    f.write("tenants/wayne.yaml", "id: wayne\ntier: nope\n");
    let (code, stdout) = with_closed_pipe(f.path(), &["validate"], true);
    assert_eq!(code, Some(1), "{stdout}");
    let (code, stderr) = with_closed_pipe(f.path(), &["validate", "--format", "json"], false);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
