//! What each rendered file is a function of: a digest of a stack's inputs (the templates, its context, the router config its rproxy carries, its parameters and tags), and the index of those digests a render leaves in its output, so that work whose inputs did not change is skipped.
//!
//! Rendering is pure (no clock, network or randomness; see the stage's docs), so equal
//! inputs render equal bytes. The digest also covers this binary's version, because a
//! new tenantops may render the same inputs differently (canonical form, deployment
//! fingerprints). Two users of it:
//! - a re-render over unchanged output hard-links the files of every stack whose
//!   digest the previous render's index records, instead of rendering it again;
//! - an offline plan (`plan --base`) renders only the stacks whose digests differ
//!   between the two revisions.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use super::Engine;
use crate::stacks::{RouterConfig, StackSpec};

/// Bumped whenever what a digest covers changes meaning.
const SCHEME: &[u8] = b"tenantops-inputs-v1\0";

/// Digests inputs against one engine (one set of templates).
pub(super) struct Digester {
    seed: Sha256,
}

impl Digester {
    pub(super) fn new(engine: &Engine, bucket: bool) -> Digester {
        let mut seed = Sha256::new();
        seed.update(SCHEME);
        seed.update(env!("CARGO_PKG_VERSION").as_bytes());
        seed.update(b"\0");
        seed.update(engine.fingerprint());
        // Only a stack's quota problems depend on the bucket, and a stack with one is
        // never written; it is covered anyway so that a digest means one outcome.
        seed.update([u8::from(bucket)]);
        Digester { seed }
    }

    /// The digest of router config `config`'s inputs.
    pub(super) fn config(&self, config: &RouterConfig) -> String {
        let mut h = self.seed.clone();
        h.update(b"nginx\0");
        h.update(config.owner.as_bytes());
        h.update(b"\0");
        json(&mut h, &config.context);
        hex(h)
    }

    /// The digest of stack `spec`'s inputs, rendered by template `template`, whose
    /// rproxy (if any) carries the config of digest `config`.
    pub(super) fn stack(&self, spec: &StackSpec, template: &str, config: Option<&str>) -> String {
        let mut h = self.seed.clone();
        h.update(b"stack\0");
        for part in [spec.name.as_str(), template, config.unwrap_or_default()] {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
        // The spec as `stacks/<name>.params.json` describes it (kind, parameters,
        // tags, dependencies), then the context the template sees.
        json(&mut h, spec);
        h.update(b"\0");
        json(&mut h, &spec.context);
        hex(h)
    }
}

/// `value` as JSON into the digest, written straight into the hasher (a tenant's
/// context is kilobytes; ten thousand of them need not be held as text).
fn json<T: serde::Serialize + ?Sized>(h: &mut Sha256, value: &T) {
    struct Into<'a>(&'a mut Sha256);
    impl std::io::Write for Into<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = std::io::BufWriter::with_capacity(8192, Into(h));
    let _ = serde_json::to_writer(&mut out, value);
    let _ = std::io::Write::flush(&mut out);
}

fn hex(h: Sha256) -> String {
    h.finalize()
        .iter()
        .take(20)
        .fold(String::with_capacity(40), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// What a render recorded of each file it wrote, in its output's marker.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Index {
    /// Stack name → (input digest, template bytes, resources).
    pub stacks: BTreeMap<String, (String, usize, usize)>,
    /// Router config owner → input digest.
    pub configs: BTreeMap<String, String>,
}

/// The marker's first line, which says what the directory is.
pub(super) const MARKER_HEADER: &str =
    "Written by `tenantops render`; this directory is replaced on every render.";

impl Index {
    /// The marker's text: the header, then one line per file.
    #[must_use]
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "{MARKER_HEADER}\n# the inputs each file was rendered from, so that a render skips what did not change\n"
        );
        for (owner, digest) in &self.configs {
            let _ = writeln!(out, "nginx\t{owner}\t{digest}");
        }
        for (name, (digest, bytes, resources)) in &self.stacks {
            let _ = writeln!(out, "stack\t{name}\t{digest}\t{bytes}\t{resources}");
        }
        out
    }

    /// Reads a marker's text; a line it does not understand (an older marker, a hand
    /// edit) is ignored, so at worst its file is rendered again.
    #[must_use]
    pub fn parse(text: &str) -> Index {
        let mut index = Index::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["nginx", owner, digest] => {
                    index
                        .configs
                        .insert((*owner).to_owned(), (*digest).to_owned());
                }
                ["stack", name, digest, bytes, resources] => {
                    if let (Ok(bytes), Ok(resources)) = (bytes.parse(), resources.parse()) {
                        index
                            .stacks
                            .insert((*name).to_owned(), ((*digest).to_owned(), bytes, resources));
                    }
                }
                _ => {}
            }
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::Index;

    #[test]
    fn the_index_reads_back_and_ignores_what_it_does_not_know() {
        let mut index = Index::default();
        index
            .stacks
            .insert("app-dev-tenant-a".to_owned(), ("ab12".to_owned(), 900, 7));
        index.configs.insert("a".to_owned(), "cd34".to_owned());
        let text = index.to_text();
        assert_eq!(Index::parse(&text), index);
        let old = "Written by `tenantops render`; this directory is replaced on every render.\n";
        assert_eq!(Index::parse(old), Index::default());
        let edited = format!("{text}stack\tx\tdigest\tmany\t1\nwhat\n");
        assert_eq!(Index::parse(&edited), index);
    }
}
