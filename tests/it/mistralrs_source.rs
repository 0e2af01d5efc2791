//! What deployctl models of mistral.rs is held to the mistral.rs source Cargo
//! already has: its list of architectures, and the paged-attention block
//! count. A mistral.rs upgrade that changes either fails here instead of at a
//! user's `apply`.

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
    // What messages name (`deployctl::RUNTIME`) is the version built.
    assert_eq!(
        format!("mistral.rs {}", package["version"].as_str().unwrap()),
        deployctl::RUNTIME,
        "deployctl models the mistral.rs that Cargo.lock holds"
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

/// Source text with its whitespace collapsed, for matching expressions that
/// rustfmt may wrap differently.
fn squashed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `calculate_cache_config` is private to mistral.rs (`mod paged_attention`
/// is not public) and CPU builds have no paged attention, so neither calling
/// it nor a rehearsal's log line can check the planner. This pins the
/// formula the planner reimplements (`plan::memory::paged_blocks` and
/// `kv_elements_per_token`) to the source, and checks the planner on it.
#[test]
fn the_paged_attention_block_count_is_calculate_cache_config_s() {
    let cache = squashed(&read("src/paged_attention/mod.rs"));
    for expr in [
        // mb_to_blocks!
        "$mb_size / $dtype_size / $block_size / $config.num_layers() / $config.kv_cache_elements_per_token()",
        // ctxt_to_blocks!: bytes, not blocks
        "$context_len * $dtype_size * $config.num_layers() * $config.kv_cache_elements_per_token()",
        // ContextSize is floored to whole MiB, then back to blocks.
        "ctxt_to_blocks!(toks, dtype_size, block_size, config) / SIZE_IN_MB",
        "let num_gpu_blocks = mb_to_blocks!(mem_gpu * SIZE_IN_MB, dtype_size, block_size, config);",
        "const SIZE_IN_MB: usize = 1024 * 1024;",
        "pub const DEFAULT_PAGED_ATTENTION_BLOCK_SIZE: usize = 32;",
    ] {
        assert!(
            cache.contains(expr),
            "paged_attention/mod.rs no longer has `{expr}`"
        );
    }
    let config = squashed(&read("src/paged_attention/config.rs"));
    for expr in [
        "KvCacheLayout::Standard => 2 * self.num_kv_heads * self.k_head_dim.max(self.v_head_dim),",
        "KvCacheLayout::Mla { kv_lora_rank, kpe_head_dim, } => kv_lora_rank + kpe_head_dim,",
    ] {
        assert!(
            config.contains(expr),
            "paged_attention/config.rs no longer has `{expr}`"
        );
    }
    // The same arithmetic, step by step, against the planner's.
    let blocks = |tokens: u64, dsz: u64, bs: u64, layers: u64, e: u64| {
        let mem_gpu = tokens * dsz * layers * e / (1024 * 1024);
        mem_gpu * (1024 * 1024) / dsz / bs / layers / e
    };
    for (tokens, dsz, layers, e) in [
        (4096, 2, 61, 576),
        (8192, 2, 27, 576),
        (4096 * 4, 2, 48, 2 * 4 * 128),
        (2048, 1, 32, 2 * 8 * 128),
        (100, 4, 2, 64),
    ] {
        assert_eq!(
            deployctl::plan::memory::paged_blocks(tokens, dsz, 32, layers, e),
            blocks(tokens, dsz, 32, layers, e)
        );
    }
}
