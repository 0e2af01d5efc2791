//! `deployctl`: plan, validate and launch multi-GPU deployments of language and
//! vision-language models on mistral.rs.
//!
//! The binary is a thin shell over this library: `cli` parses arguments and
//! prints; `manifest` reads and validates deployment manifests; `diagnostic`
//! holds the problems found, as data.

/// The runtime deployctl plans for and launches, as messages name it. Its
/// version is the one `Cargo.lock` holds (`tests/it/mistralrs_source.rs`).
pub const RUNTIME: &str = "mistral.rs 0.8.1";

pub mod app;
pub mod cli;
pub mod diagnostic;
pub mod files;
pub mod inventory;
pub mod launch;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod review;
#[cfg(feature = "serve")]
pub mod server;
pub mod units;
