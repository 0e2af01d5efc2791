//! Model files with adversarial numbers: `config.json` values, GGUF header
//! fields and safetensors headers set to zero, huge, negative, fractional or
//! mistyped values. `plan` must answer each with a diagnostic or a plan:
//! never a panic, a hang or an abort, and every error placed in a file.

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};

use crate::support;

/// Numbers no model has, and values of the wrong type.
fn adversarial() -> Vec<Value> {
    vec![
        json!(0),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(u32::MAX),
        json!(1u64 << 32),
        json!(1u64 << 40),
        json!(1u64 << 53),
        json!(1u64 << 62),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e308),
        json!("12"),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
    ]
}

const BASE: &str = r#"{"architectures":["MixtralForCausalLM"],"model_type":"mixtral","hidden_size":64,
 "intermediate_size":128,"vocab_size":300,"num_hidden_layers":3,"num_attention_heads":4,
 "num_key_value_heads":2,"head_dim":16,"max_position_embeddings":256,"num_local_experts":4,
 "num_experts_per_tok":2,"rms_norm_eps":1e-5,"torch_dtype":"bfloat16"}"#;

/// Runs `deployctl plan` on the manifest in `dir`; fails on a panic, a hang
/// or an exit other than 0 (a plan) or 1 (diagnostics), and on an error
/// without a file.
fn plan_answers(dir: &Path) -> Result<(), String> {
    let mut child = support::deployctl()
        .current_dir(dir)
        .args([
            "plan",
            "deploy.toml",
            "--gpus",
            "2x24GiB",
            "--format",
            "json",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            return Err("no answer within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    if err.contains("panicked") || !matches!(status.code(), Some(0 | 1)) {
        return Err(format!("exit {status}:\n{err}"));
    }
    let report: Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
    for d in report["diagnostics"].as_array().into_iter().flatten() {
        if d["severity"] == "error" && d["file"].as_str().is_none_or(str::is_empty) {
            return Err(format!("an error without a place: {d}"));
        }
    }
    Ok(())
}

fn manifest(dir: &Path, source: &str) {
    std::fs::write(
        dir.join("deploy.toml"),
        format!(
            "version = 1\nname = \"hostile\"\n[model]\nsource = \"{source}\"\n[workload]\nmax_seq_len = 256\n"
        ),
    )
    .unwrap();
}

/// A GGUF v3 header: metadata as (key, value), tensors as (name, dims
/// innermost first, ggml type).
fn gguf(meta: &[(&str, GgufValue)], tensors: &[(&str, Vec<u64>, u32)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((meta.len() as u64).to_le_bytes());
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    for (key, value) in meta {
        string(&mut b, key);
        match value {
            GgufValue::U64(n) => {
                b.extend(10u32.to_le_bytes());
                b.extend(n.to_le_bytes());
            }
            GgufValue::I32(n) => {
                b.extend(5u32.to_le_bytes());
                b.extend(n.to_le_bytes());
            }
            GgufValue::F32(x) => {
                b.extend(6u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            GgufValue::Text(s) => {
                b.extend(8u32.to_le_bytes());
                string(&mut b, s);
            }
            GgufValue::StringArray(count) => {
                b.extend(9u32.to_le_bytes());
                b.extend(8u32.to_le_bytes());
                b.extend(count.to_le_bytes());
            }
        }
    }
    for (name, dims, kind) in tensors {
        string(&mut b, name);
        b.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(kind.to_le_bytes());
        b.extend(0u64.to_le_bytes());
    }
    b
}

#[derive(Debug, Clone)]
enum GgufValue {
    U64(u64),
    I32(i32),
    F32(f32),
    Text(&'static str),
    /// An array of strings that claims `count` entries and holds none.
    StringArray(u64),
}

fn gguf_numbers() -> Vec<u64> {
    vec![
        0,
        1,
        u64::from(u32::MAX),
        1 << 32,
        1 << 40,
        1 << 62,
        u64::MAX,
    ]
}

const GGUF_KEYS: [&str; 8] = [
    "llama.block_count",
    "llama.embedding_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.attention.key_length",
    "llama.feed_forward_length",
    "llama.context_length",
    "llama.vocab_size",
];

fn base_gguf_meta() -> Vec<(&'static str, GgufValue)> {
    let mut meta = vec![("general.architecture", GgufValue::Text("llama"))];
    for (key, n) in GGUF_KEYS.iter().zip([2, 64, 4, 2, 16, 128, 256, 300]) {
        meta.push((key, GgufValue::U64(n)));
    }
    meta
}

fn base_gguf_tensors() -> Vec<(&'static str, Vec<u64>, u32)> {
    vec![
        ("token_embd.weight", vec![64, 300], 1),
        ("blk.0.attn_q.weight", vec![64, 64], 1),
        ("output.weight", vec![64, 300], 1),
    ]
}

/// A safetensors file: the 8-byte header length, the header, the data.
fn safetensors(header_len: Option<u64>, header: &str, data: usize) -> Vec<u8> {
    let mut b = header_len
        .unwrap_or(header.len() as u64)
        .to_le_bytes()
        .to_vec();
    b.extend(header.as_bytes());
    b.extend(vec![0u8; data]);
    b
}

/// Runs `case` on every input, and fails with all that did not answer.
fn every<T: std::fmt::Debug + Sync>(
    inputs: Vec<T>,
    case: impl Fn(&T) -> Result<(), String> + Sync,
) {
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<&[T]> = inputs.chunks(inputs.len().div_ceil(4).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let case = &case;
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|input| case(input).err().map(|e| format!("{input:?}: {e}")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} inputs got no clean answer:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}

const CONFIG_KEYS: [&str; 10] = [
    "hidden_size",
    "intermediate_size",
    "vocab_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "max_position_embeddings",
    "num_local_experts",
    "num_experts_per_tok",
];

/// Every layout key of a config, set to every adversarial value.
#[test]
fn configs_with_adversarial_numbers_get_diagnostics() {
    let inputs: Vec<(&str, Value)> = CONFIG_KEYS
        .iter()
        .flat_map(|k| adversarial().into_iter().map(move |v| (*k, v)))
        .collect();
    every(inputs, |(key, value)| {
        let dir = tempfile::tempdir().unwrap();
        let mut config: Value = serde_json::from_str(BASE).unwrap();
        config[*key] = value.clone();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/config.json"), config.to_string()).unwrap();
        manifest(dir.path(), "m");
        plan_answers(dir.path())
    });
}

/// Every shape field of a GGUF header, as every adversarial number, stored
/// as an unsigned, a signed and a float value.
#[test]
fn gguf_headers_with_adversarial_numbers_get_diagnostics() {
    let inputs: Vec<GgufValue> = gguf_numbers()
        .into_iter()
        .flat_map(|n| {
            [
                GgufValue::U64(n),
                GgufValue::I32(n as i32),
                GgufValue::F32(n as f32),
            ]
        })
        .collect();
    let inputs: Vec<(&str, GgufValue)> = GGUF_KEYS
        .iter()
        .flat_map(|k| inputs.iter().map(move |v| (*k, v.clone())))
        .collect();
    every(inputs, |(key, value)| {
        let dir = tempfile::tempdir().unwrap();
        let mut meta = base_gguf_meta();
        for entry in meta.iter_mut().filter(|(k, _)| k == key) {
            entry.1 = value.clone();
        }
        std::fs::write(dir.path().join("m.gguf"), gguf(&meta, &base_gguf_tensors())).unwrap();
        manifest(dir.path(), "m.gguf");
        plan_answers(dir.path())
    });
}

proptest! {
    // Failures are kept beside this file, by an absolute path. proptest's
    // default would put them in `tests/proptest-regressions/` (beside the
    // nearest folder with a `main.rs`), and finds that from `file!()` and
    // the working directory.
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/hostile_models.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn gguf_tensors_and_counts_with_adversarial_numbers_get_diagnostics(
        dim in prop::sample::select(gguf_numbers()),
        tokens in prop::sample::select(gguf_numbers()),
        kind in prop::sample::select(vec![0u32, 1, 2, 12, 30, 31, 99, u32::MAX]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut meta = base_gguf_meta();
        meta.retain(|(k, _)| *k != "llama.vocab_size");
        meta.push(("tokenizer.ggml.tokens", GgufValue::StringArray(tokens)));
        let mut tensors = base_gguf_tensors();
        tensors[1] = ("blk.0.attn_q.weight", vec![dim, dim], kind);
        std::fs::write(dir.path().join("m.gguf"), gguf(&meta, &tensors)).unwrap();
        manifest(dir.path(), "m.gguf");
        prop_assert_eq!(plan_answers(dir.path()), Ok(()), "dims {} tokens {} type {}", dim, tokens, kind);
    }

    #[test]
    fn safetensors_headers_with_adversarial_numbers_get_diagnostics(
        dim in prop::sample::select(adversarial()),
        length in prop::sample::select(vec![None, Some(0), Some(7), Some(1 << 40), Some(u64::MAX)]),
        end in prop::sample::select(vec![json!(0), json!(256), json!(1u64 << 62), json!(-4), json!("x")]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        let config: Value = serde_json::from_str(BASE).unwrap();
        std::fs::write(dir.path().join("m/config.json"), config.to_string()).unwrap();
        let header = json!({
            "model.embed_tokens.weight": {"dtype": "BF16", "shape": [dim, 64], "data_offsets": [0, end]},
        })
        .to_string();
        std::fs::write(dir.path().join("m/model.safetensors"), safetensors(length, &header, 256)).unwrap();
        manifest(dir.path(), "m");
        prop_assert_eq!(plan_answers(dir.path()), Ok(()), "shape [{}, 64] length {:?} end {}", dim, length, end);
    }
}

/// The reproducers of hostile GGUF headers, each answered with its own
/// message.
#[test]
fn absurd_gguf_counts_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), "m.gguf");
    let cases: [(Vec<u8>, &str); 3] = [
        (
            {
                let mut b = gguf(&base_gguf_meta(), &base_gguf_tensors());
                b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
                b
            },
            "implausible tensor or metadata count",
        ),
        (
            {
                let mut meta = base_gguf_meta();
                meta[1].1 = GgufValue::U64(u64::MAX);
                gguf(&meta, &base_gguf_tensors())
            },
            "`llama.block_count` is 18446744073709551615",
        ),
        (
            {
                let mut meta = base_gguf_meta();
                meta[3].1 = GgufValue::U64(0);
                gguf(&meta, &base_gguf_tensors())
            },
            "`llama.attention.head_count` is 0",
        ),
    ];
    for (bytes, expected) in cases {
        std::fs::write(dir.path().join("m.gguf"), bytes).unwrap();
        let out = support::deployctl()
            .current_dir(dir.path())
            .args(["plan", "deploy.toml", "--gpus", "1x24GiB"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
    }
}
