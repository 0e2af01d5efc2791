//! The machines a repository declares: `[devices.expect] host = "gpu-box-3"`
//! plans against `hosts/gpu-box-3.toml` (a `gpus --record` inventory) in the
//! manifest's directory or the nearest one above it, up to the repository's
//! root. Each file is read once per run, however many deployments share it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::diagnostic::{Code, Diagnostic, Place, display_path};
use crate::inventory::file::InventoryFileError;
use crate::inventory::{self, Inventory, InventorySource};
use crate::plan::machine;
use crate::units::ByteSize;

/// Host inventories read in this run, by file; a file that does not read
/// keeps its one error for every deployment that names it.
#[derive(Default)]
pub(super) struct Hosts(Mutex<HashMap<PathBuf, Result<Inventory, Arc<InventoryFileError>>>>);

/// Why a host has no inventory: none was found, or its file does not read.
#[derive(Debug, Clone, thiserror::Error)]
pub(super) enum HostError {
    #[error("no `hosts/{host}.toml` beside this manifest or in a directory above it")]
    NotFound { host: String },
    #[error(transparent)]
    Unreadable(Arc<InventoryFileError>),
}

impl Hosts {
    /// The inventory of `host` for the manifest at `manifest`, and its file;
    /// `Err` says what was looked for, or why the file does not read.
    pub(super) fn find(
        &self,
        host: &str,
        manifest: &Path,
    ) -> Result<(Inventory, PathBuf), HostError> {
        let Some(path) = locate(host, manifest) else {
            return Err(HostError::NotFound {
                host: host.to_owned(),
            });
        };
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let read = cache.entry(path.clone()).or_insert_with(|| {
            inventory::file::read(&path)
                .map(|mut i| {
                    let shown = std::env::current_dir()
                        .ok()
                        .and_then(|cwd| pathdiff::diff_paths(&path, cwd))
                        .unwrap_or_else(|| path.clone());
                    i.source = InventorySource::Host {
                        host: host.to_owned(),
                        path: display_path(&shown),
                    };
                    i
                })
                .map_err(Arc::new)
        });
        read.clone()
            .map(|i| (i, path))
            .map_err(HostError::Unreadable)
    }
}

/// `hosts/HOST.toml` in the manifest's directory or the nearest above, not
/// past a directory that holds `.git`.
pub(super) fn locate(host: &str, manifest: &Path) -> Option<PathBuf> {
    let start = manifest.parent().filter(|p| !p.as_os_str().is_empty());
    let start = std::path::absolute(start.unwrap_or(Path::new("."))).ok()?;
    for dir in start.ancestors() {
        let candidate = dir.join("hosts").join(format!("{host}.toml"));
        if candidate.exists() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

/// The diagnostic of a GPU of `host` that deployments over-commit together,
/// at `place`; `name` names each deployment of `o.planned` (`` `path` ``,
/// or "this deployment"). The largest first; past four, the rest as a count,
/// so that twenty deployments on one GPU still read as one line.
pub(super) fn over_committed(
    o: &machine::OverCommit,
    host: &str,
    name: &dyn Fn(usize) -> String,
    place: Place,
) -> Diagnostic {
    let mut planned = o.planned.clone();
    planned.sort_by_key(|p| std::cmp::Reverse(p.1));
    let mut shares: Vec<String> = planned
        .iter()
        .take(if planned.len() > 4 { 3 } else { 4 })
        .map(|(u, total)| format!("{} plans {total}", name(*u)))
        .collect();
    if planned.len() > 4 {
        let rest = ByteSize(planned[3..].iter().map(|(_, t)| t.0).sum());
        shares.push(format!("{} others plan {rest}", planned.len() - 3));
    }
    let reserve = if o.reserve.0 > 0 {
        format!(" ({} less a {} reserve)", o.memory, o.reserve)
    } else {
        String::new()
    };
    Diagnostic::error(
        Code::HostOverCommitted,
        place,
        format!(
            "GPU {} of host {host} is over-committed: {}; together {} against its {}{reserve}",
            o.gpu,
            shares.join(", "),
            o.sum,
            o.room
        ),
    )
    .label(format!("GPU {} is shared", o.gpu))
    .help(format!(
        "the deployments' `devices.max_memory` on GPU {} must add up to at most {}: lower it (or `max_batch_size`, `max_seq_len`) in one of them, or place one on another host",
        o.gpu, o.room
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_hosts_folder_above_wins_and_the_repository_bounds_the_search() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let team = repo.join("team").join("prod");
        std::fs::create_dir_all(&team).unwrap();
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("hosts")).unwrap();
        std::fs::create_dir_all(root.path().join("hosts")).unwrap();
        std::fs::write(repo.join("hosts/box.toml"), "").unwrap();
        std::fs::write(root.path().join("hosts/outside.toml"), "").unwrap();
        let manifest = team.join("deploy.toml");
        assert_eq!(locate("box", &manifest), Some(repo.join("hosts/box.toml")));
        assert_eq!(locate("outside", &manifest), None, "above the repository");
        assert_eq!(locate("other", &manifest), None);
    }
}
