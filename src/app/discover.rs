//! Finding manifests under the paths given to `validate`.

use std::path::{Path, PathBuf};

use crate::manifest::looks_like_manifest;

/// A manifest found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub path: PathBuf,
    /// Named on the command line, not found in a directory.
    pub explicit: bool,
    /// Its text, when the search read it to tell a manifest from other TOML:
    /// the loader takes it rather than read the file again.
    pub text: Option<String>,
}

/// A path given on the command line that could not be used.
#[derive(Debug)]
pub struct DiscoverError(pub String);

/// Files are taken as given. Directories are searched recursively for `*.toml`
/// files whose top-level table has a `version =` key, skipping hidden entries
/// and whatever `.gitignore` excludes. The result is sorted and deduplicated.
pub fn manifests(paths: &[PathBuf]) -> Result<Vec<Found>, DiscoverError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_file() {
            found.push(Found {
                path: path.clone(),
                explicit: true,
                text: None,
            });
        } else if path.is_dir() {
            let before = found.len();
            for entry in ignore::WalkBuilder::new(path)
                .sort_by_file_name(Ord::cmp)
                .build()
            {
                let entry = entry.map_err(|e| {
                    DiscoverError(format!("cannot search `{}`: {e}", path.display()))
                })?;
                let file = entry.path();
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    continue;
                }
                if let Some(text) = manifest_text(file) {
                    found.push(Found {
                        path: file.to_path_buf(),
                        explicit: false,
                        text,
                    });
                }
            }
            if found.len() == before {
                return Err(DiscoverError(format!(
                    "no manifest under `{}`: no *.toml file there has a top-level `version =` key",
                    path.display()
                )));
            }
        } else {
            return Err(DiscoverError(crate::files::not_a_file(path)));
        }
    }
    found.sort();
    found.dedup_by(|a, b| {
        let same = a.path == b.path;
        if same {
            b.explicit |= a.explicit;
        }
        same
    });
    Ok(found)
}

/// `Some(text)` for a manifest, `Some(None)` for a `*.toml` file that cannot
/// be read (kept, so that `validate` reports it rather than skip it and
/// pass), `None` for any other file.
fn manifest_text(path: &Path) -> Option<Option<String>> {
    if path.extension().is_none_or(|e| e != "toml") {
        return None;
    }
    match crate::files::read_text(path, crate::files::cap::MANIFEST) {
        Ok(text) => looks_like_manifest(&text).then_some(Some(text)),
        Err(_) => Some(None),
    }
}
