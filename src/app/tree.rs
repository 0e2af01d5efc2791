//! Checking a tree of manifests: each loaded, validated and planned once,
//! on every core, with the files other manifests extend checked through them.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::discover::Found;
use super::{App, Need, Planned};
use crate::diagnostic::{self, Diagnostic, Place, display_path};
use crate::inventory::InventorySource;
use crate::manifest::{KeyPath, Manifest, Overrides};
use crate::plan::machine;
use crate::units::ByteSize;

/// One manifest of a tree, checked.
pub struct Checked<T> {
    pub path: PathBuf,
    /// Named on the command line, not found in a directory.
    pub explicit: bool,
    pub diagnostics: Vec<Diagnostic>,
    /// The manifest and the files merged underneath it, lowest first; the
    /// manifest last.
    pub files: Vec<PathBuf>,
    /// What the caller keeps of the valid manifest and its plan.
    pub kept: Option<T>,
    /// What it plans on a host it shares with others.
    on_host: Option<OnHost>,
}

/// One deployment's plan on a declared host, for checking the host whole.
struct OnHost {
    host: String,
    /// The host's inventory file, which identifies the machine.
    file: String,
    gpus: Vec<(u32, ByteSize)>,
    using: machine::Use,
    /// `devices.expect.host`, where a collision is reported.
    place: Place,
}

/// Loads and plans every manifest in `candidates` (as `discover` found
/// them), keeping of each what `keep` takes, so that memory stays flat
/// however many there are. A found file that another lists in `extends` is
/// checked as part of it, not alone.
pub fn check<T: Send>(
    app: &App,
    candidates: &[Found],
    overrides: &Overrides,
    keep: impl Fn(&Manifest, Option<&Planned>) -> T + Sync,
) -> Vec<Checked<T>> {
    let results: Vec<Checked<T>> = candidates
        .par_iter()
        .map(|found| {
            let (path, explicit) = (&found.path, &found.explicit);
            let mut outcome = match &found.text {
                Some(text) => app.loader().load_str(path, text, overrides),
                None => app.loader().load(path, overrides),
            };
            let mut kept = None;
            let mut on_host = None;
            // With a shape and hardware at hand, plan too, so budget errors fail CI.
            if let (Some(loaded), Some(manifest)) = (&outcome.loaded, &outcome.manifest) {
                let planned = app.plan(loaded, manifest, Need::IfKnown, &mut outcome.diagnostics);
                on_host = planned.as_ref().and_then(|p| {
                    let (host, path) = match &p.inventory.source {
                        InventorySource::Host { host, path } => (host, path),
                        InventorySource::File { path } if app.one_machine() => (path, path),
                        _ => return None,
                    };
                    let plan = p.outcome.plan.as_ref()?;
                    Some(OnHost {
                        host: host.clone(),
                        file: path.clone(),
                        gpus: p
                            .inventory
                            .gpus
                            .iter()
                            .map(|g| (g.index, g.memory_total))
                            .collect(),
                        using: machine::Use {
                            per_gpu: plan.devices.iter().map(|d| (d.index, d.total)).collect(),
                            reserve: manifest.devices.reserve,
                        },
                        place: loaded
                            .provenance
                            .value_place(&KeyPath::parse("devices.expect.host")),
                    })
                });
                diagnostic::sort(&mut outcome.diagnostics);
                kept = Some(keep(manifest, planned.as_ref()));
            }
            Checked {
                path: path.clone(),
                explicit: *explicit,
                diagnostics: outcome.diagnostics,
                files: outcome.files,
                kept,
                on_host,
            }
        })
        .collect();
    let bases: HashSet<PathBuf> = results
        .iter()
        .flat_map(|c| c.files.iter().rev().skip(1))
        .filter_map(|f| std::fs::canonicalize(f).ok())
        .collect();
    let mut checked: Vec<Checked<T>> = results
        .into_iter()
        .filter(|c| c.explicit || !canonical(&c.path).is_some_and(|p| bases.contains(&p)))
        .collect();
    check_hosts(&mut checked);
    checked
}

/// Every diagnostic of `checked`, each once, in file and line order: a base
/// that several manifests extend reports its problems once.
pub fn distinct_diagnostics<T>(checked: &[Checked<T>]) -> Vec<Diagnostic> {
    let mut seen = HashSet::new();
    let mut all: Vec<Diagnostic> = checked
        .iter()
        .flat_map(|c| &c.diagnostics)
        .filter(|d| seen.insert((d.code, d.location(), d.message.clone(), d.to_string())))
        .cloned()
        .collect();
    diagnostic::sort(&mut all);
    all
}

/// Every host that two or more of `checked` share, checked whole: per GPU,
/// their planned totals together against its memory. Each collision is
/// reported on every deployment in it, naming the others.
fn check_hosts<T>(checked: &mut [Checked<T>]) {
    let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in checked.iter().enumerate() {
        if let Some(h) = &c.on_host {
            by_host.entry(h.file.as_str()).or_default().push(i);
        }
    }
    let mut found: Vec<(usize, Diagnostic)> = Vec::new();
    for members in by_host.values().filter(|m| m.len() > 1) {
        let host = |i: usize| checked[i].on_host.as_ref().expect("grouped by host");
        let uses: Vec<machine::Use> = members.iter().map(|&i| host(i).using.clone()).collect();
        let first = host(members[0]);
        for o in machine::over_commits(&first.gpus, &uses) {
            let name = |u: usize| format!("`{}`", display_path(&checked[members[u]].path));
            for (u, _) in &o.planned {
                let i = members[*u];
                let d = super::hosts::over_committed(&o, &first.host, &name, host(i).place.clone());
                found.push((i, d));
            }
        }
    }
    for (i, d) in found {
        checked[i].diagnostics.push(d);
        diagnostic::sort(&mut checked[i].diagnostics);
    }
}

fn canonical(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}
