//! The local Hugging Face cache: `$HF_HUB_CACHE` (default `$HF_HOME/hub`,
//! default `~/.cache/huggingface/hub`), laid out as
//! `models--ORG--NAME/snapshots/REVISION/config.json` with `refs/BRANCH` naming
//! the revision. Read only; nothing is downloaded.

use std::path::{Path, PathBuf};

/// The cache folder, from the given environment lookups.
pub(super) fn hub_dir(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = var("HF_HUB_CACHE") {
        return Some(PathBuf::from(dir));
    }
    if let Some(home) = var("HF_HOME") {
        return Some(Path::new(&home).join("hub"));
    }
    var("HOME").map(|home| Path::new(&home).join(".cache/huggingface/hub"))
}

/// The snapshot folder of `id` at `revision` (a branch, tag or commit).
pub(super) fn snapshot(hub: &Path, id: &str, revision: &str) -> Option<PathBuf> {
    let repo = hub.join(format!("models--{}", id.replace('/', "--")));
    let commit = crate::files::read_text(&repo.join("refs").join(revision), 4096)
        .map(|c| c.trim().to_owned())
        .unwrap_or_else(|_| revision.to_owned());
    let dir = repo.join("snapshots").join(commit);
    dir.join("config.json").is_file().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_snapshot_through_its_ref() {
        let hub = tempfile::tempdir().unwrap();
        let snap = hub.path().join("models--Org--Model/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::create_dir_all(hub.path().join("models--Org--Model/refs")).unwrap();
        std::fs::write(hub.path().join("models--Org--Model/refs/main"), "abc123\n").unwrap();
        assert_eq!(snapshot(hub.path(), "Org/Model", "main"), Some(snap));
        assert_eq!(snapshot(hub.path(), "Org/Other", "main"), None);
        let env = |k: &str| (k == "HF_HOME").then(|| "/data/hf".to_owned());
        assert_eq!(hub_dir(env), Some(PathBuf::from("/data/hf/hub")));
    }
}
