//! The I/O around the pure planner, shared by `plan`, `render`, `apply` and
//! `validate`: find the model's shape and the hardware, run the planner, and
//! turn its findings into diagnostics that point at manifest keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Code, Diagnostic, Place};
use crate::inventory::{self, Inventory, InventorySource};
use crate::manifest::{KeyPath, Loaded, Loader, Manifest, ModelSource, Overrides};
use crate::model::{self, ResolveError, Resolved};
use crate::plan::memory::Classified;
use crate::plan::{self, Finding, Settings};

/// Where the GPUs come from, from the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Hardware {
    /// Plan against a recorded inventory (the TOML `deployctl gpus --record` writes).
    #[arg(long, value_name = "FILE", conflicts_with = "gpus")]
    pub inventory: Option<PathBuf>,
    /// Plan against GPUs described in short: `4xA100-80GB`, `2x24GiB`, `H100-80GB,RTX4090`.
    /// Without this or `--inventory`, `plan`, `render` and `apply` use this
    /// machine's GPUs (NVML), else the manifest's `[devices.expect]`.
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
    /// Whether this machine's GPUs count when no flag names hardware: set
    /// per command (`validate` reads them only with `--live`).
    #[arg(skip = LiveGpus::Read)]
    pub live: LiveGpus,
}

/// Whether a command reads this machine's GPUs when no flag names hardware.
/// `plan` and `apply` do: they answer for this machine. `validate` does not
/// unless asked: it runs in CI, where the runner's GPUs, and other jobs on
/// them, are not the deployment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveGpus {
    #[default]
    Read,
    Skip,
}

/// Set to a recorded inventory (`gpus --record`), stands in for NVML: the
/// machine's GPUs, as that file has them. For reproducing a box elsewhere.
pub const LIVE_INVENTORY_ENV: &str = "DEPLOYCTL_LIVE_INVENTORY";

/// A plan made, with what it was made from.
pub struct Planned {
    pub model: Arc<Resolved>,
    pub inventory: Inventory,
    pub outcome: plan::Outcome,
}

/// A manifest loaded and validated, and its plan if one could be made.
pub struct Session {
    pub manifest: Manifest,
    pub planned: Option<Planned>,
}

/// The first half of `plan`, `render` and `apply`: load the manifest with the
/// `--set` and environment overrides, then plan it where the shape and the
/// hardware must be known. `None` when the manifest itself is invalid. Every
/// diagnostic goes to `out`, sorted once the planner has added its own.
pub fn load_and_plan(
    path: &Path,
    sets: Vec<String>,
    hardware: &Hardware,
    settings: &Settings,
    out: &mut Vec<Diagnostic>,
) -> Option<Session> {
    let outcome = Loader::new().load(path, &Overrides::from_process(sets));
    out.extend(outcome.diagnostics);
    let (Some(loaded), Some(manifest)) = (outcome.loaded, outcome.manifest) else {
        return None;
    };
    let models = ModelCache::default();
    let planned = run(
        &loaded,
        &manifest,
        hardware,
        &models,
        settings,
        Need::Required,
        out,
    );
    crate::diagnostic::sort(out);
    Some(Session { manifest, planned })
}

/// Whether a missing shape or missing hardware is an error (`plan`) or just
/// means there is nothing to plan (`validate`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    IfKnown,
}

/// Models already resolved in this run, by what the manifest says of the
/// model: `validate` over a tree resolves each model once, not once per
/// manifest (a catalog entry's config, parsed and laid out as tensors).
#[derive(Default)]
pub struct ModelCache(std::sync::Mutex<std::collections::HashMap<String, Model>>);

/// A model resolved, and its tensors classified for the planner.
type Model = (Arc<Resolved>, Arc<Vec<Classified>>);

impl ModelCache {
    fn resolve(
        &self,
        model: &crate::manifest::Model,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Model, ResolveError> {
        // Every field of the model section, paths and revision included.
        let key = format!("{model:?}");
        if let Some(hit) = self.0.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let resolved = model::resolve(model, var)?;
        let classified = Arc::new(plan::memory::classify(&resolved.shape));
        let entry = (Arc::new(resolved), classified);
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, entry.clone());
        }
        Ok(entry)
    }
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    loaded: &Loaded,
    manifest: &Manifest,
    hardware: &Hardware,
    models: &ModelCache,
    settings: &Settings,
    need: Need,
    out: &mut Vec<Diagnostic>,
) -> Option<Planned> {
    let inputs = inputs(loaded, manifest, hardware, models, need, out)?;
    Some(plan_with(loaded, manifest, inputs, settings, out))
}

/// What a plan is made from besides the manifest: the hardware and the model.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub inventory: Inventory,
    pub model: Arc<Resolved>,
    /// The model's tensors, classified for the planner.
    pub classified: Arc<Vec<Classified>>,
}

/// Reads the hardware and the model `manifest` plans for; `None`, with the
/// reasons in `out`, when either is missing.
pub fn inputs(
    loaded: &Loaded,
    manifest: &Manifest,
    hardware: &Hardware,
    models: &ModelCache,
    need: Need,
    out: &mut Vec<Diagnostic>,
) -> Option<Inputs> {
    let provenance = &loaded.provenance;
    let place = |key: &str| provenance.value_place(&KeyPath::parse(key));
    let var = |name: &str| std::env::var(name).ok();
    let cpu_only = manifest.devices.gpus.as_ref().is_some_and(Vec::is_empty);
    let inventory = if cpu_only {
        Some(Inventory::new(InventorySource::CpuOnly, Vec::new()))
    } else if let Some(path) = &hardware.inventory {
        inventory::file::read(path)
            .map_err(|e| {
                out.push(Diagnostic::error(
                    Code::InvalidInventory,
                    Place::File(path.clone()),
                    e,
                ))
            })
            .ok()
    } else if let Some(spec) = &hardware.gpus {
        inventory::spec::parse(spec)
            .map_err(|e| {
                out.push(Diagnostic::error(
                    Code::InvalidInventory,
                    Place::Flag(format!("--gpus {spec}")),
                    e,
                ))
            })
            .ok()
    } else if let Some(live) = (hardware.live == LiveGpus::Read)
        .then(|| live(out))
        .flatten()
    {
        Some(live)
    } else if let Some(i) = manifest
        .devices
        .expect
        .as_ref()
        .and_then(inventory::from_expectation)
    {
        Some(i)
    } else {
        if need == Need::Required {
            out.push(
                Diagnostic::error(
                    Code::NoHardware,
                    place("devices"),
                    "no GPUs to plan for: give `--inventory FILE` or `--gpus SPEC`, or describe them in `[devices.expect]`",
                )
                .help("e.g. `deployctl plan deploy.toml --gpus 4xA100-80GB`, or `[devices.expect]` with `count` and `memory`"),
            );
        }
        None
    };
    // Resolved after the hardware, so a bad model and bad hardware both report.
    let model = match models.resolve(&manifest.model, &var) {
        Ok(m) => m,
        Err(ResolveError::NotFound { .. }) if need == Need::IfKnown => return None,
        Err(e) => {
            out.push(resolve_error(
                e,
                &manifest.model.source,
                place("model.source"),
            ));
            return None;
        }
    };
    Some(Inputs {
        inventory: inventory?,
        model: model.0,
        classified: model.1,
    })
}

/// Plans `manifest` on what [`inputs`] read. `init` plans one model on one
/// machine many times, so it reads them once and calls this for each draft.
pub fn plan_with(
    loaded: &Loaded,
    manifest: &Manifest,
    Inputs {
        inventory,
        model,
        classified,
    }: Inputs,
    settings: &Settings,
    out: &mut Vec<Diagnostic>,
) -> Planned {
    let visible = (inventory.source == InventorySource::Live).then(|| {
        inventory::visible::parse(
            std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref(),
            &inventory.gpus,
        )
    });
    let outcome = plan::plan(&plan::Input {
        manifest,
        shape: &model.shape,
        inventory: &inventory,
        settings,
        visible: visible.as_ref(),
        classified: Some(&classified),
    });
    for finding in &outcome.findings {
        out.push(to_diagnostic(finding, loaded));
    }
    Planned {
        model,
        inventory,
        outcome,
    }
}

/// This machine's GPUs, when it has an NVIDIA driver. Without one (CI, laptops)
/// planning falls back to `[devices.expect]`.
fn live(out: &mut Vec<Diagnostic>) -> Option<Inventory> {
    if let Some(path) = std::env::var_os(LIVE_INVENTORY_ENV) {
        let path = PathBuf::from(path);
        return inventory::file::read(&path)
            .map_err(|e| {
                out.push(Diagnostic::error(
                    Code::InvalidInventory,
                    Place::Env(LIVE_INVENTORY_ENV.into()),
                    e,
                ))
            })
            .ok();
    }
    match inventory::nvml::read() {
        Ok(i) => Some(i),
        Err(inventory::nvml::Unavailable::NoDriver(_)) => None,
        Err(inventory::nvml::Unavailable::Failed(e)) => {
            out.push(Diagnostic::error(
                Code::InvalidInventory,
                Place::Flag("NVML on this machine".into()),
                format!("NVML failed: {e}"),
            ));
            None
        }
    }
}

fn to_diagnostic(f: &Finding, loaded: &Loaded) -> Diagnostic {
    let place = match &f.key {
        Some(key) => loaded.provenance.value_place(key),
        None => loaded.provenance.top().place(0..0),
    };
    let mut d = match f.severity {
        crate::diagnostic::Severity::Error => Diagnostic::error(f.code, place, f.message.clone()),
        crate::diagnostic::Severity::Warning => {
            Diagnostic::warning(f.code, place, f.message.clone())
        }
    };
    d.help = f.help.clone();
    d
}

fn resolve_error(e: ResolveError, source: &ModelSource, place: Place) -> Diagnostic {
    match e {
        ResolveError::NotFound { tried } => Diagnostic::error(
            Code::ModelNotFound,
            place,
            format!("no source has the shape of this model; tried:\n  - {}", tried.join("\n  - ")),
        )
        .label("shape unknown")
        .help(match source {
            ModelSource::Hub { .. } => {
                "keep the model's config.json beside the manifest and name it in `model.config = \"config.json\"`"
            }
            _ => "point `model.source` at the checkpoint directory, or name its config.json in `model.config`",
        }),
        ResolveError::Invalid { origin, reason } => {
            Diagnostic::error(Code::InvalidModelConfig, place, format!("{origin}: {reason}")).label("unreadable model")
        }
        ResolveError::Unsupported { architecture, origin } => Diagnostic::error(
            Code::UnsupportedArchitecture,
            place,
            format!("{} cannot load {architecture} (from {origin})", crate::RUNTIME),
        )
        .label("unsupported architecture")
        .help(model::architectures::unsupported_help(&architecture)),
        ResolveError::NeedsHeaders { architecture, origin } => Diagnostic::error(
            Code::CheckpointNeeded,
            place,
            format!("{architecture} cannot be laid out from a config alone (from {origin})"),
        )
        .label("checkpoint needed")
        .help(model::architectures::needs_headers_help(&architecture)),
    }
}
