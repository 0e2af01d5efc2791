//! What applies on top of a manifest's files: `DEPLOYCTL_<TABLE>__<KEY>`
//! variables and `--set` flags.

use super::layers;

/// Overrides that apply on top of the files.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Environment variables; only `DEPLOYCTL_<TABLE>__<KEY>` ones are used.
    pub env: Vec<(String, String)>,
    /// `--set table.key=value` flags, in command-line order.
    pub sets: Vec<String>,
}

impl Overrides {
    /// The process environment's overrides, and the given flags.
    pub fn from_process(sets: Vec<String>) -> Self {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| layers::env_key(k).is_some())
            .collect();
        Overrides { env, sets }
    }
}
