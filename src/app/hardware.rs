//! Where a command's GPUs come from, read once per run.
//!
//! Each command sets its own precedence: `plan` and `apply` answer for this
//! machine, so its GPUs come before `[devices.expect]`; `validate` runs in CI,
//! where the runner's GPUs (and other jobs on them) are not the deployment's,
//! so it reads them only when asked.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::diagnostic::{Code, Diagnostic, Place};
use crate::inventory::{self, Inventory};

/// Set to a recorded inventory (`gpus --record`), stands in for NVML: the
/// machine's GPUs, as that file has them. For reproducing a box elsewhere.
pub const LIVE_INVENTORY_ENV: &str = "DEPLOYCTL_LIVE_INVENTORY";

/// Hardware named explicitly, by a file or a short spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A recorded inventory (the TOML `deployctl gpus --record` writes).
    Recorded(PathBuf),
    /// GPUs described in short: `4xA100-80GB`, `2x24GiB`.
    Spec(String),
}

/// Whether this machine's GPUs count when no hardware is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveGpus {
    /// Before `[devices.expect]` (`plan`, `apply`).
    #[default]
    Read,
    /// Never (`validate` without `--live`).
    Skip,
}

/// The hardware a command plans against, first found: what is named, this
/// machine's GPUs when the command reads them, then each manifest's
/// `[devices.expect]`. What is read here is read once, however many
/// manifests are planned.
#[derive(Debug, Default)]
pub struct HardwareSource {
    named: Option<Named>,
    live: LiveGpus,
    named_read: OnceLock<Result<Inventory, Box<Diagnostic>>>,
    live_read: OnceLock<Result<Option<Inventory>, Box<Diagnostic>>>,
}

impl HardwareSource {
    pub fn new(named: Option<Named>, live: LiveGpus) -> Self {
        HardwareSource {
            named,
            live,
            ..Self::default()
        }
    }

    /// This machine's GPUs, read already by the caller (`init`, which must
    /// know them before it drafts), or none.
    pub fn read_already(live: Option<Inventory>) -> Self {
        HardwareSource {
            live_read: OnceLock::from(Ok(live)),
            ..Self::default()
        }
    }

    /// The hardware that comes before the manifest's own expectation: the
    /// named one, else this machine's when read. `Ok(None)` when neither
    /// applies; the error is the same diagnostic for every caller.
    pub fn before_expectation(&self) -> Result<Option<Inventory>, Box<Diagnostic>> {
        match &self.named {
            Some(named) => self
                .named_read
                .get_or_init(|| read_named(named))
                .clone()
                .map(Some),
            None if self.live == LiveGpus::Read => self.live_read.get_or_init(read_live).clone(),
            None => Ok(None),
        }
    }
}

fn read_named(named: &Named) -> Result<Inventory, Box<Diagnostic>> {
    match named {
        Named::Recorded(path) => inventory::file::read(path).map_err(|e| {
            Box::new(Diagnostic::error(
                Code::InvalidInventory,
                Place::File(path.clone()),
                e.to_string(),
            ))
        }),
        Named::Spec(spec) => inventory::spec::parse(spec).map_err(|e| {
            Box::new(Diagnostic::error(
                Code::InvalidInventory,
                Place::Flag(format!("--gpus {spec}")),
                e.to_string(),
            ))
        }),
    }
}

/// This machine's GPUs, when it has an NVIDIA driver. Without one (CI,
/// laptops) there are none to read, which is not an error.
fn read_live() -> Result<Option<Inventory>, Box<Diagnostic>> {
    if let Some(path) = std::env::var_os(LIVE_INVENTORY_ENV) {
        let path = PathBuf::from(path);
        // It stands in for NVML, so it is this machine's, live.
        return inventory::file::read(&path)
            .map(|mut i| {
                i.source = inventory::InventorySource::Live;
                Some(i)
            })
            .map_err(|e| {
                Box::new(Diagnostic::error(
                    Code::InvalidInventory,
                    Place::Env(LIVE_INVENTORY_ENV.into()),
                    e.to_string(),
                ))
            });
    }
    match inventory::nvml::read() {
        Ok(i) => Ok(Some(i)),
        Err(inventory::nvml::Unavailable::NoDriver(_)) => Ok(None),
        Err(inventory::nvml::Unavailable::Failed(e)) => Err(Box::new(Diagnostic::error(
            Code::InvalidInventory,
            Place::Flag("NVML on this machine".into()),
            format!("NVML failed: {e}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_hardware_is_read_once_and_wins_over_the_machine() {
        let source = HardwareSource::new(Some(Named::Spec("2x24GiB".into())), LiveGpus::Read);
        let first = source.before_expectation().unwrap().unwrap();
        assert_eq!(first.gpus.len(), 2);
        assert!(source.named_read.get().is_some());
        assert!(source.live_read.get().is_none(), "NVML was not asked");
    }

    #[test]
    fn a_bad_spec_is_one_diagnostic_on_its_flag() {
        let source = HardwareSource::new(Some(Named::Spec("lots".into())), LiveGpus::Skip);
        let e = source.before_expectation().unwrap_err();
        assert_eq!(e.code, Code::InvalidInventory);
        assert!(matches!(&e.place, Place::Flag(f) if f == "--gpus lots"));
    }

    #[test]
    fn skipping_the_machine_reads_nothing() {
        let source = HardwareSource::new(None, LiveGpus::Skip);
        assert!(source.before_expectation().unwrap().is_none());
        assert!(source.live_read.get().is_none());
    }
}
