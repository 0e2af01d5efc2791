//! deployctl's list of architectures is mistral.rs's, read from the crate
//! source Cargo already has: a mistral.rs upgrade that adds or drops one fails
//! here instead of at a user's `apply`.
#![cfg(feature = "serve")]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use deployctl::model::Modality;
use deployctl::model::architectures::{GGUF, SUPPORTED};

/// The source folder of the `mistralrs-core` this build links, from `cargo metadata`.
fn mistralrs_core() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mistralrs-core")
        .expect("mistralrs-core is a dependency of the default build");
    assert_eq!(
        package["version"], "0.8.1",
        "deployctl models mistral.rs 0.8.1"
    );
    PathBuf::from(package["manifest_path"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(file: &str) -> String {
    let path = mistralrs_core().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text from `start` to the first `end` after it.
fn block<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not found"));
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("`{end}` not found after `{start}`"));
    &text[from..from + len]
}

/// The arms `"a" | "b" => Ok(Self::Variant)` of a match, as (string, variant).
fn arms(block: &str) -> Vec<(String, String)> {
    let pieces: Vec<&str> = block.split("Ok(Self::").collect();
    let mut out = Vec::new();
    for pair in pieces.windows(2) {
        // The names are the quoted strings after the previous arm's end.
        let names = pair[0].rsplit("),").next().unwrap_or(pair[0]);
        let variant: String = pair[1]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        for name in names.split('"').skip(1).step_by(2) {
            out.push((name.to_owned(), variant.clone()));
        }
    }
    out
}

/// (class, `--arch` name) pairs of one loader table.
fn loader_table(file: &str, kind: &str) -> BTreeSet<(String, String)> {
    let source = read(file);
    let impl_start = format!("impl {kind} {{");
    let classes = arms(block(
        &source[source.find(&impl_start).unwrap()..],
        "fn from_causal_lm_name",
        "other =>",
    ));
    let names = arms(block(
        &source,
        &format!("impl FromStr for {kind}"),
        "Err(format!",
    ));
    assert!(
        classes.len() > 10 && names.len() > 10,
        "{file}: tables not found"
    );
    classes
        .into_iter()
        .map(|(class, variant)| {
            let name = names
                .iter()
                .find(|(_, v)| *v == variant)
                .unwrap_or_else(|| panic!("{variant} has no FromStr name"))
                .0
                .clone();
            (class, name)
        })
        .collect()
}

fn ours(modality: Modality) -> BTreeSet<(String, String)> {
    SUPPORTED
        .iter()
        .filter(|a| a.modality == modality)
        .map(|a| (a.class.to_owned(), a.mistralrs.to_owned()))
        .collect()
}

fn assert_same(what: &str, theirs: BTreeSet<(String, String)>, ours: BTreeSet<(String, String)>) {
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: mistral.rs loads but deployctl does not list {missing:?}; \
         deployctl lists but mistral.rs does not load {extra:?}"
    );
}

#[test]
fn text_architectures_are_mistralrs_normal_loaders() {
    assert_same(
        "NormalLoaderType",
        loader_table("src/pipeline/loaders/normal_loaders.rs", "NormalLoaderType"),
        ours(Modality::Text),
    );
}

#[test]
fn multimodal_architectures_are_mistralrs_multimodal_loaders() {
    assert_same(
        "MultimodalLoaderType",
        loader_table(
            "src/pipeline/loaders/multimodal_loaders.rs",
            "MultimodalLoaderType",
        ),
        ours(Modality::Multimodal),
    );
}

#[test]
fn gguf_architectures_are_those_mistralrs_builds_a_model_for() {
    let source = read("src/pipeline/gguf.rs");
    let arms = block(
        &source,
        "ModelKind::GgufQuantized { .. } => match arch {",
        "a => bail!",
    );
    let theirs: BTreeSet<String> = arms
        .split("GGUFArchitecture::")
        .skip(1)
        .map(|s| {
            s.chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect::<String>()
                // strum's `serialize_all = "lowercase"` in `gguf/mod.rs`.
                .to_lowercase()
        })
        .collect();
    let ours: BTreeSet<String> = GGUF.iter().map(|(a, _)| (*a).to_owned()).collect();
    assert_eq!(theirs, ours);
}
