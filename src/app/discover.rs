//! Finding manifests under the paths given to `validate`.

use std::path::{Path, PathBuf};

use crate::manifest::looks_like_manifest;

/// A path given on the command line that could not be used.
#[derive(Debug)]
pub struct DiscoverError(pub String);

/// Files are taken as given. Directories are searched recursively for `*.toml`
/// files whose top-level table has a `version =` key, skipping hidden entries
/// and whatever `.gitignore` excludes. The result is sorted and deduplicated.
pub fn manifests(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>, DiscoverError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_file() {
            found.push((path.clone(), true));
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
                if entry.file_type().is_some_and(|t| t.is_file()) && is_manifest_file(file) {
                    found.push((file.to_path_buf(), false));
                }
            }
            if found.len() == before {
                return Err(DiscoverError(format!(
                    "no manifest under `{}`: no *.toml file there has a top-level `version =` key",
                    path.display()
                )));
            }
        } else {
            return Err(DiscoverError(format!(
                "`{}` does not exist",
                path.display()
            )));
        }
    }
    found.sort();
    found.dedup_by(|a, b| {
        let same = a.0 == b.0;
        if same {
            b.1 |= a.1;
        }
        same
    });
    Ok(found)
}

fn is_manifest_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
        // One that cannot be read is kept, so that `validate` reports it
        // rather than skip it and pass.
        && crate::files::read_text(path, crate::files::cap::MANIFEST)
            .map_or(true, |text| looks_like_manifest(&text))
}
