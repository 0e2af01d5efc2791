//! Every valid manifest, printed by `deployctl config`, validates again to the
//! same manifest.

use std::path::Path;

use deployctl::manifest::{Loader, Overrides};

use crate::support;

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn printed_config_revalidates_to_the_same_manifest() {
    // Work on a copy, so the printed files can sit beside the originals.
    let work = tempfile::tempdir().unwrap();
    copy_tree(&support::fixtures(), work.path());
    let mut manifests: Vec<_> = support::cases("valid")
        .into_iter()
        .map(|c| c.path)
        .collect();
    manifests.push(support::fixtures().join("cli/gitops/staging/deploy.toml"));
    manifests.push(support::fixtures().join("cli/gitops/production/deploy.toml"));

    let loader = Loader::new();
    for original in manifests {
        let relative = original.strip_prefix(support::fixtures()).unwrap();
        let copy = work.path().join(relative);
        let config = support::stdout_of(support::deployctl().args(["config"]).arg(&copy));
        let printed = copy.with_file_name("printed.roundtrip.toml");
        std::fs::write(&printed, config).unwrap();

        let first = loader
            .load(&copy, &Overrides::default())
            .manifest
            .expect("valid");
        let again = loader.load(&printed, &Overrides::default());
        let again = again
            .manifest
            .unwrap_or_else(|| panic!("{} did not re-validate", relative.display()));
        assert_eq!(
            first,
            again,
            "{} changed in the round trip",
            relative.display()
        );
    }
}
