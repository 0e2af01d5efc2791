//! The application layer: every command is arguments → [`App`] → output.
//!
//! An [`App`] acquires what plans are made from once per run (the hardware,
//! each model's shape, the manifest schema) and offers the one path from a
//! manifest to a plan and its launch that `plan`, `render`, `apply`,
//! `validate` and `init` share. The planner below it stays pure; the commands
//! above it only parse arguments and print.

pub mod discover;
mod findings;
pub mod git;
pub mod hardware;
mod hosts;
mod models;
pub mod neighbours;
pub mod tree;

use std::path::Path;
use std::sync::Arc;

use crate::diagnostic::{self, Code, Diagnostic};
use crate::inventory::{self, Inventory, InventorySource};
use crate::launch;
use crate::manifest::{KeyPath, Loaded, Loader, Manifest, Overrides};
use crate::model::{ResolveError, Resolved};
use crate::plan::memory::WeightCache;
use crate::plan::{self, Settings};

pub use hardware::{HardwareSource, LIVE_INVENTORY_ENV, LiveGpus, Named};
pub use models::ModelCache;

/// Whether a missing shape or missing hardware is an error (`plan`) or just
/// means there is nothing to plan (`validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    IfKnown,
}

/// What a plan is made from besides the manifest: the hardware and the model.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub inventory: Inventory,
    pub model: Arc<Resolved>,
    /// The model's tensors classified, and its weight tables, for the planner.
    pub weights: Arc<WeightCache>,
}

/// A plan made, with what it was made from.
pub struct Planned {
    pub model: Arc<Resolved>,
    pub inventory: Inventory,
    pub outcome: plan::PlanOutcome,
}

impl Planned {
    /// The launch the plan compiles to, when there is a plan.
    pub fn compile(&self, manifest: &Manifest) -> Option<launch::Description> {
        let plan = self.outcome.plan.as_ref()?;
        Some(launch::compile(manifest, &self.model.shape, plan))
    }
}

/// A manifest loaded and validated, and its plan if one could be made.
pub struct Session {
    /// The manifest as written and merged: its spans, for diagnostics.
    pub loaded: Loaded,
    pub manifest: Manifest,
    pub planned: Option<Planned>,
}

/// A planner finding as a diagnostic on the manifest key it names.
pub fn diagnose(finding: &plan::Finding, loaded: &Loaded) -> Diagnostic {
    findings::to_diagnostic(finding, loaded)
}

/// One run's inputs, acquired once.
pub struct App {
    loader: Loader,
    hardware: HardwareSource,
    hosts: hosts::Hosts,
    models: ModelCache,
    settings: Settings,
    /// Every manifest planned runs on the one machine the named inventory
    /// describes (`plan --machine`): checked together, as on a host.
    one_machine: bool,
}

impl App {
    pub fn new(hardware: HardwareSource, settings: Settings) -> Self {
        App {
            loader: Loader::new(),
            hardware,
            hosts: hosts::Hosts::default(),
            models: ModelCache::default(),
            settings,
            one_machine: false,
        }
    }

    /// The same, with every manifest on the one machine `hardware` names.
    pub fn on_one_machine(hardware: HardwareSource, settings: Settings) -> Self {
        App {
            one_machine: true,
            ..App::new(hardware, settings)
        }
    }

    pub fn one_machine(&self) -> bool {
        self.one_machine
    }

    pub fn loader(&self) -> &Loader {
        &self.loader
    }

    pub fn models(&self) -> &ModelCache {
        &self.models
    }

    /// `plan`, `render` and `apply`: load the manifest at `path` with the
    /// `--set` and environment overrides, then plan it; the shape and the
    /// hardware must be known. `None` when the manifest itself is invalid.
    /// Every diagnostic goes to `out`, sorted once the planner added its own.
    pub fn session(
        &self,
        path: &Path,
        overrides: &Overrides,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Session> {
        let outcome = self.loader.load(path, overrides);
        out.extend(outcome.diagnostics);
        let (Some(loaded), Some(manifest)) = (outcome.loaded, outcome.manifest) else {
            return None;
        };
        let planned = self.plan(&loaded, &manifest, Need::Required, out);
        diagnostic::sort(out);
        Some(Session {
            loaded,
            manifest,
            planned,
        })
    }

    /// Plans a loaded manifest: the inputs, then the planner.
    pub fn plan(
        &self,
        loaded: &Loaded,
        manifest: &Manifest,
        need: Need,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Planned> {
        let inputs = self.inputs(loaded, manifest, need, out)?;
        Some(self.plan_with(loaded, manifest, inputs, out))
    }

    /// The hardware and the model `manifest` plans for; `None`, with the
    /// reasons in `out`, when either is missing.
    pub fn inputs(
        &self,
        loaded: &Loaded,
        manifest: &Manifest,
        need: Need,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Inputs> {
        let place = |key: &str| loaded.provenance.value_place(&KeyPath::parse(key));
        let cpu_only = manifest.devices.gpus.as_ref().is_some_and(Vec::is_empty);
        let inventory = if cpu_only {
            Some(Inventory::new(InventorySource::CpuOnly, Vec::new()))
        } else {
            match self.hardware.before_expectation() {
                Ok(Some(found)) => Some(found),
                Err(d) => {
                    out.push(*d);
                    None
                }
                Ok(None) => {
                    let expect = manifest.devices.expect.as_ref();
                    if let Some(host) = expect.and_then(|e| e.host.as_deref()) {
                        let file = loaded.provenance.top().source.path();
                        match self.hosts.find(host, file) {
                            Ok((found, _)) => {
                                return self.with_model(loaded, manifest, Some(found), need, out);
                            }
                            Err(why) => {
                                out.push(
                                    Diagnostic::error(Code::HostUnknown, place("devices.expect.host"), why.to_string())
                                        .label("no inventory for this host")
                                        .help(format!(
                                            "record one on the machine: `deployctl gpus --record hosts/{host}.toml`, and commit it"
                                        )),
                                );
                                return None;
                            }
                        }
                    }
                    let expected = expect.and_then(inventory::from_expectation);
                    if expected.is_none() && need == Need::Required {
                        out.push(
                            Diagnostic::error(
                                Code::NoHardware,
                                place("devices"),
                                "no GPUs to plan for: give `--inventory FILE` or `--gpus SPEC`, or describe them in `[devices.expect]`",
                            )
                            .help("e.g. `deployctl plan deploy.toml --gpus 4xA100-80GB`, or `[devices.expect]` with `count` and `memory`"),
                        );
                    }
                    expected
                }
            }
        };
        self.with_model(loaded, manifest, inventory, need, out)
    }

    /// `inputs` once the hardware is known (or known to be missing): the
    /// model, resolved after the hardware so that a bad model and bad
    /// hardware both report.
    fn with_model(
        &self,
        loaded: &Loaded,
        manifest: &Manifest,
        inventory: Option<Inventory>,
        need: Need,
        out: &mut Vec<Diagnostic>,
    ) -> Option<Inputs> {
        let place = |key: &str| loaded.provenance.value_place(&KeyPath::parse(key));
        let var = |name: &str| std::env::var(name).ok();
        let model = match self.models.resolve(&manifest.model, &var) {
            Ok(m) => m,
            Err(ResolveError::NotFound { .. }) if need == Need::IfKnown => return None,
            Err(e) => {
                out.push(findings::resolve_error(
                    e,
                    &manifest.model.source,
                    place("model.source"),
                ));
                return None;
            }
        };
        Some(Inputs {
            inventory: inventory?,
            model: model.resolved,
            weights: model.weights,
        })
    }

    /// Plans `manifest` on inputs already read, and turns the planner's
    /// findings into diagnostics that point at manifest keys.
    pub fn plan_with(
        &self,
        loaded: &Loaded,
        manifest: &Manifest,
        Inputs {
            inventory,
            model,
            weights,
        }: Inputs,
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
            settings: &self.settings,
            visible: visible.as_ref(),
            weights: Some(&weights),
        });
        for finding in &outcome.findings {
            out.push(findings::to_diagnostic(finding, loaded));
        }
        Planned {
            model,
            inventory,
            outcome,
        }
    }
}
