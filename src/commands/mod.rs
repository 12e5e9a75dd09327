//! The commands, one file each: its clap arguments and its `run`, which loads what it needs, calls the stages and prints their typed results; nothing below `commands/` imports from it.

pub mod activate;
pub mod apply;
pub mod args;
pub mod bootstrap;
pub mod completions;
mod fleet;
mod lifecycle;
pub mod lock;
pub mod man;
pub mod offboard;
pub mod onboard;
pub mod plan;
pub mod render;
pub mod schema;
pub mod status;
pub mod suspend;
pub mod validate;
