//! Property tests: mutated and random manifests never panic the loader, and
//! every diagnostic carries a code and a place that exists.

use deployctl::diagnostic::Place;
use deployctl::manifest::{Loader, Overrides};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::support;

/// Valid manifests to mutate: every valid fixture, and every CLI fixture.
fn seeds() -> Vec<String> {
    let mut seeds: Vec<String> = support::cases("valid")
        .iter()
        .map(|c| std::fs::read_to_string(&c.path).unwrap())
        .collect();
    for file in [
        "cli/gitops/production/deploy.toml",
        "cli/broken/deploy.toml",
    ] {
        seeds.push(std::fs::read_to_string(support::fixtures().join(file)).unwrap());
    }
    seeds
}

/// Fragments that make TOML, numbers and sizes go wrong in interesting ways.
const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    ",",
    ".",
    "\n",
    "#",
    "-",
    "0",
    "-1",
    "99999999999999999999",
    "1e400",
    "15GB 15GB",
    "%",
    "101%",
    "[devices]",
    "[[model]]",
    "gpus = [0, 0]",
    "version = 2",
    "extends = [\"missing.toml\"]",
    "extends = [\"m.toml\"]",
    "é",
    "\u{0}",
    "\t",
    "strategy = \"manual\"",
    "map = [{ layers = \"9-1\", gpu = 7 }]",
    "max_memory = []",
    "tensor_size = 0",
    "inf",
    "nan",
    "true",
    "1979-05-27T07:32:00Z",
];

#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, usize),
    Delete(usize, usize),
    SwapLines(usize, usize),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_owned();
    for edit in edits {
        let at = |i: usize, t: &str| {
            let mut i = i % (t.len() + 1);
            while !t.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        match edit {
            Edit::Insert(pos, frag) => {
                let i = at(*pos, &text);
                text.insert_str(i, FRAGMENTS[frag % FRAGMENTS.len()]);
            }
            Edit::Delete(pos, len) => {
                let start = at(*pos, &text);
                let end = at(start + len % 16, &text).max(start);
                text.replace_range(start..end, "");
            }
            Edit::SwapLines(a, b) => {
                let mut lines: Vec<&str> = text.lines().collect();
                if !lines.is_empty() {
                    let (a, b) = (a % lines.len(), b % lines.len());
                    lines.swap(a, b);
                }
                text = lines.join("\n");
            }
        }
    }
    text
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(p, f)| Edit::Insert(p, f)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, l)| Edit::Delete(p, l)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn check_every_diagnostic_is_placed(
    text: &str,
    overrides: &Overrides,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.toml");
    std::fs::write(&path, text).unwrap();
    // A sibling that mutated `extends` entries may point at.
    std::fs::write(dir.path().join("m.toml"), "extends = [\"deploy.toml\"]\n").unwrap();
    let outcome = Loader::new().load(&path, overrides);
    for d in &outcome.diagnostics {
        prop_assert!(d.code.as_str().starts_with("deployctl::"));
        prop_assert!(!d.message.is_empty());
        match &d.place {
            Place::Span { source, span } => {
                prop_assert!(
                    span.start <= span.end && span.end <= source.text().len(),
                    "{d:?}"
                );
                prop_assert!(
                    source.text().is_char_boundary(span.start)
                        && source.text().is_char_boundary(span.end)
                );
            }
            Place::File(_) => {}
            Place::Env(name) => prop_assert!(name.starts_with("DEPLOYCTL_")),
            Place::Flag(flag) => prop_assert!(flag.starts_with("--set ")),
        }
        // Rendering must not panic either.
        let _ = deployctl::diagnostic::render::human(d, false);
        let _ = deployctl::diagnostic::render::github(d);
    }
    if outcome.manifest.is_some() {
        prop_assert!(!outcome.has_errors());
    }
    Ok(())
}

proptest! {
    // Failures are kept beside this file, by an absolute path. proptest's
    // default would put them in `tests/proptest-regressions/` (beside the
    // nearest folder with a `main.rs`), and finds that from `file!()` and
    // the working directory.
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/properties.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_manifests_never_panic(seed in 0usize..64, edits in prop::collection::vec(edit(), 1..6)) {
        let seeds = seeds();
        let text = apply(&seeds[seed % seeds.len()], &edits);
        check_every_diagnostic_is_placed(&text, &Overrides::default())?;
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        check_every_diagnostic_is_placed(&text, &Overrides::default())?;
    }

    #[test]
    fn random_overrides_never_panic(
        key in "(model|devices|server|parallelism|precision|workload|x)(\\.[a-z_]{1,12}){0,2}",
        value in "\\PC{0,24}",
    ) {
        let overrides = Overrides {
            env: vec![(deployctl::manifest::env_name(&deployctl::manifest::KeyPath::parse(&key)), value.clone())],
            sets: vec![format!("{key}={value}")],
        };
        check_every_diagnostic_is_placed("version = 1\n[model]\nsource = \"a/b\"\n", &overrides)?;
    }
}
