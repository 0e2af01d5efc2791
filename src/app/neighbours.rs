//! On the box: the other deployments the repository places on this
//! deployment's host, planned from the host's recorded inventory, so that
//! `apply` can check the live GPUs against what they hold.

use std::path::{Path, PathBuf};

use super::{App, HardwareSource, LiveGpus, Named, Need, discover, hosts};
use crate::diagnostic::{Code, Diagnostic};
use crate::inventory::Inventory;
use crate::manifest::{KeyPath, Loaded, Manifest, Overrides};
use crate::plan::{Plan, Settings, machine};
use crate::units::ByteSize;

/// Memory in use beyond the others' plans that is not worth a warning: the
/// CUDA contexts and driver of an idle machine.
const SLACK: ByteSize = ByteSize(1 << 30);

/// The checks `apply` runs on a declared host: this plan with the others'
/// against each GPU's memory, and each GPU's memory in use against what the
/// others plan there. Nothing when the manifest names no host.
pub fn check(
    loaded: &Loaded,
    manifest: &Manifest,
    plan: &Plan,
    live: &Inventory,
    out: &mut Vec<Diagnostic>,
) {
    let Some(host) = manifest
        .devices
        .expect
        .as_ref()
        .and_then(|e| e.host.as_deref())
    else {
        return;
    };
    let top = loaded.provenance.top().source.path();
    let Some(file) = hosts::locate(host, top) else {
        return; // planning reported it already
    };
    let place = loaded
        .provenance
        .value_place(&KeyPath::parse("devices.expect.host"));
    let others = others(host, &file, top);
    let uses: Vec<machine::Use> = others.iter().map(|(_, u)| u.clone()).collect();
    let mine = machine::Use {
        per_gpu: plan.devices.iter().map(|d| (d.index, d.total)).collect(),
        reserve: manifest.devices.reserve,
    };
    let gpus: Vec<(u32, ByteSize)> = live
        .gpus
        .iter()
        .map(|g| (g.index, g.memory_total))
        .collect();
    let all: Vec<machine::Use> = std::iter::once(mine.clone())
        .chain(uses.iter().cloned())
        .collect();
    let name = |i: usize| {
        if i == 0 {
            "this deployment".to_owned()
        } else {
            format!("`{}`", crate::diagnostic::display_path(&others[i - 1].0))
        }
    };
    for o in machine::over_commits(&gpus, &all)
        .into_iter()
        .filter(|o| o.planned.iter().any(|(i, _)| *i == 0))
    {
        out.push(hosts::over_committed(&o, host, &name, place.clone()));
    }
    let in_use: Vec<(u32, ByteSize)> = live.gpus.iter().map(|g| (g.index, g.memory_used)).collect();
    let mine_gpus: Vec<u32> = plan.devices.iter().map(|d| d.index).collect();
    for u in machine::unplanned_use(&in_use, &uses, &mine_gpus, SLACK) {
        out.push(
            Diagnostic::warning(
                Code::UnplannedUse,
                place.clone(),
                format!(
                    "GPU {} has {} in use, but the other deployments on host {host} plan {} there: {} more is held by something the repository does not place here, or by one of them beyond its plan",
                    u.gpu,
                    u.in_use,
                    u.planned,
                    ByteSize(u.in_use.0 - u.planned.0)
                ),
            )
            .label("more in use than planned")
            .help("`deployctl gpus` names the processes that hold it"),
        );
    }
}

/// The other manifests under the folder that holds `hosts/`, that name
/// `host`, each planned against the host's inventory.
fn others(host: &str, file: &Path, me: &Path) -> Vec<(PathBuf, machine::Use)> {
    let Some(root) = file.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let Ok(candidates) = discover::manifests(&[root.to_path_buf()]) else {
        return Vec::new();
    };
    let me = std::fs::canonicalize(me).ok();
    let app = App::new(
        HardwareSource::new(Some(Named::Recorded(file.to_path_buf())), LiveGpus::Skip),
        Settings::default(),
    );
    let mut found = Vec::new();
    for path in candidates.into_iter().map(|f| f.path) {
        if std::fs::canonicalize(&path).ok() == me {
            continue;
        }
        let outcome = app.loader().load(&path, &Overrides::default());
        let (Some(loaded), Some(manifest)) = (outcome.loaded, outcome.manifest) else {
            continue;
        };
        let on_host = manifest
            .devices
            .expect
            .as_ref()
            .and_then(|e| e.host.as_deref())
            == Some(host);
        if !on_host {
            continue;
        }
        let planned = app.plan(&loaded, &manifest, Need::IfKnown, &mut Vec::new());
        if let Some(plan) = planned.and_then(|p| p.outcome.plan) {
            let shown = pathdiff::diff_paths(&path, std::env::current_dir().unwrap_or_default())
                .unwrap_or(path);
            found.push((
                shown,
                machine::Use {
                    per_gpu: plan.devices.iter().map(|d| (d.index, d.total)).collect(),
                    reserve: manifest.devices.reserve,
                },
            ));
        }
    }
    found
}
