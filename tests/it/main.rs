//! The integration tests, as one binary: each module was a binary of its own
//! (`tests/NAME.rs`), and each linked deployctl, with mistral.rs in the
//! default build. Run one module with `cargo test --test it NAME::`.
//!
//! The modules share one process and run on parallel threads, so none of
//! them sets environment variables or the working directory for itself: the
//! binary runs through `support::deployctl()` (a scrubbed environment, the
//! package root unless a test names another folder), paths are absolute,
//! and a load that must see relative paths reads them from its folder
//! (`Loader::in_dir`), not from a moved working directory.

mod support;
#[cfg(feature = "serve")]
mod tiny_checkpoint;

mod advice;
#[cfg(feature = "serve")]
mod apply;
mod architecture;
mod checkpoint;
mod ci_jobs;
mod cli;
mod corpus;
mod diff;
mod docs;
mod examples;
mod gpus;
mod hostile_models;
mod kubernetes;
mod launch_safety;
mod manifest_doc;
#[cfg(feature = "serve")]
mod mistralrs_source;
mod properties;
mod render;
mod round_trip;
mod scenarios;
mod schemas;
