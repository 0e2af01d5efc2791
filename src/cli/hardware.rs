//! The hardware flags every planning command shares.

use std::path::PathBuf;

use crate::app::{HardwareSource, LiveGpus, Named};

/// Where the GPUs come from, from the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Hardware {
    /// Plan against a recorded inventory (the TOML `deployctl gpus --record` writes).
    #[arg(long, value_name = "FILE", conflicts_with = "gpus")]
    pub inventory: Option<PathBuf>,
    /// Plan against GPUs described in short: `4xA100-80GB`, `2x24GiB`, `H100-80GB,RTX4090`.
    /// Without this or `--inventory`, `plan`, `render` and `apply` use this
    /// machine's GPUs (NVML), else the manifest's host (`hosts/HOST.toml`) or
    /// `[devices.expect]`.
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
}

impl Hardware {
    /// The flags as the application layer takes them; `live` is the
    /// command's own precedence for this machine's GPUs.
    pub fn source(&self, live: LiveGpus) -> HardwareSource {
        let named = match (&self.inventory, &self.gpus) {
            (Some(path), _) => Some(Named::Recorded(path.clone())),
            (None, Some(spec)) => Some(Named::Spec(spec.clone())),
            (None, None) => None,
        };
        HardwareSource::new(named, live)
    }
}
