//! tenantops: tier definitions and tenant manifests in git, validated, rendered and applied as AWS infrastructure.
//!
//! The pipeline is `load → validate → render → plan → apply`, one module per stage with
//! typed hand-offs; see `ARCHITECTURE.md` for the map.

pub mod aws;
pub mod cli;
pub mod deploy;
pub mod diag;
pub mod exit;
pub mod load;
pub mod lockfile;
pub mod model;
pub mod naming;
pub mod onboard;
pub mod render;
pub mod repo;
pub mod schema;
pub mod suggest;
pub mod synth;
pub mod validate;
pub mod yaml;
