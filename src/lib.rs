//! tenantops: tier definitions and tenant manifests in git, validated, rendered and applied as AWS infrastructure.
//!
//! The pipeline is `load → validate → render → plan → apply`, one module per stage with
//! typed hand-offs (`stacks` is the stack set that render turns into templates);
//! `commands` is the layer above them, `cli` parses and dispatches. See
//! `ARCHITECTURE.md` for the map.

pub mod apply;
pub mod aws;
pub mod capacity;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod exit;
pub mod failure;
pub mod files;
pub mod load;
pub mod lockfile;
pub mod model;
pub mod naming;
pub mod onboard;
pub mod output;
pub mod plan;
pub mod quotas;
pub mod render;
pub mod repo;
pub mod schema;
pub mod stacks;
pub mod status;
pub mod stdio;
pub mod suggest;
pub mod synth;
pub mod validate;
pub mod yaml;
