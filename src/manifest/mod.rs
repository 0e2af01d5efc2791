//! The deployment manifest: TOML in, a validated [`Manifest`] out.
//!
//! Two phases. `wire` is a strict serde model of the TOML; `load` parses each
//! file with spans, checks it against the schema, merges the layers with
//! figment, and `validate` turns the result into a [`Manifest`] while
//! collecting every problem as a diagnostic.

pub(crate) mod defaults;
mod document;
mod layers;
mod load;
mod normalize;
mod overrides;
mod path;
mod provenance;
pub mod schema;
mod secrets;
mod structure;
mod validate;
mod validated;
pub mod values;
pub mod wire;

pub use defaults::RESERVE as DEFAULT_RESERVE;
pub use document::looks_like_manifest;
pub use layers::{ENV_PREFIX, LayerKind, env_name};
pub use load::{LoadOutcome, Loaded, Loader};
pub use normalize::normalize as normalize_path;
pub use overrides::Overrides;
pub use path::{KeyPath, Segment};
pub use provenance::Provenance;
pub use validate::{K8S_STARTUP_SECONDS, classify_source, is_loopback, slug};
pub use validated::*;
