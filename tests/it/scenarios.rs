//! Planning scenarios as users write them: the real binary, a manifest, and the
//! hardware it is meant for. The scenarios that plan are the worked examples
//! under `examples/`, each against the `inventory.toml` beside it; the broken
//! ones stay fixtures under `tests/fixtures/scenarios/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use insta_cmd::assert_cmd_snapshot;
use serde_json::Value;

use crate::support;

/// An example under `examples/`.
fn example(name: &str) -> PathBuf {
    support::examples().join(name)
}

/// A broken scenario under `tests/fixtures/scenarios/`: not an example to copy.
fn broken(name: &str) -> PathBuf {
    support::fixtures().join("scenarios").join(name)
}

/// The hardware each example is written for, recorded beside it.
const INVENTORY: [&str; 2] = ["--inventory", "inventory.toml"];

fn plan(dir: &Path, hardware: &[&str]) -> Command {
    let mut cmd = support::deployctl();
    support::without_model_caches(&mut cmd)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("plan")
        .arg("deploy.toml")
        .args(hardware);
    cmd
}

fn json(dir: &Path, hardware: &[&str]) -> (Option<i32>, Value) {
    let out = plan(dir, hardware)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), report)
}

fn codes(report: &Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect()
}

fn devices(report: &Value) -> &Vec<Value> {
    report["plan"]["devices"].as_array().unwrap()
}

fn assert_within_limits(report: &Value) {
    for d in devices(report) {
        assert!(d["total"].as_u64() <= d["limit"].as_u64(), "{d}");
        assert!(d["headroom"].as_i64().unwrap() >= 0, "{d}");
    }
}

fn layers_placed(report: &Value) -> u64 {
    devices(report)
        .iter()
        .map(|d| d["layer_count"].as_u64().unwrap())
        .sum()
}

#[test]
fn qwen2_5_vl_3b_on_four_gpus_capped_at_15gb() {
    let dir = example("qwen2.5-vl-3b-4x15gb");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["fits"], true);
    assert_within_limits(&report);
    let limit_15gb = 15_000_000_000;
    for d in devices(&report) {
        assert_eq!(d["limit"].as_u64(), Some(limit_15gb));
        assert_eq!(d["limited_by"], "max_memory");
    }
    // `auto` weighed every strategy and said why each other one lost.
    let candidates = report["plan"]["candidates"].as_array().unwrap();
    assert!(candidates.len() >= 3);
    assert_eq!(candidates.iter().filter(|c| c["chosen"] == true).count(), 1);
    assert!(
        candidates
            .iter()
            .filter(|c| c["chosen"] == false)
            .all(|c| !c["reason"].as_str().unwrap().is_empty())
    );
    if report["plan"]["strategy"]["kind"] == "pipeline" {
        assert_eq!(layers_placed(&report), 36);
    }
    assert_cmd_snapshot!(plan(&dir, &INVENTORY));
}

#[test]
fn qwen2_vl_7b_on_two_24gb_gpus_where_the_first_gpus_activations_decide() {
    let dir = example("qwen2-vl-7b-2x24gb-long");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    assert_within_limits(&report);
    assert_eq!(report["plan"]["strategy"]["kind"], "pipeline");
    let d = devices(&report);
    assert_eq!(layers_placed(&report), 28);
    // The first GPU runs the vision tower over the image patches: larger
    // activations, so fewer layers.
    assert!(d[0]["activations"].as_u64() > d[1]["activations"].as_u64());
    assert!(
        d[0]["layer_count"].as_u64() < d[1]["layer_count"].as_u64(),
        "{d:#?}"
    );
    // The launch hands mistral.rs exactly this split.
    let args: Vec<&str> = report["launch"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let n = args.iter().position(|a| *a == "-n").unwrap();
    assert_eq!(
        args[n + 1],
        format!("0:{};1:{}", d[0]["layer_count"], d[1]["layer_count"])
    );
    assert_cmd_snapshot!(plan(&dir, &INVENTORY));
}

#[test]
fn qwen1_5_72b_with_tensor_parallelism_on_five_80gb_gpus() {
    let dir = example("qwen1.5-72b-tensor-5xa100");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    assert_within_limits(&report);
    assert_eq!(
        report["plan"]["strategy"],
        serde_json::json!({"kind": "tensor", "size": 4})
    );
    // 64 heads cannot split 5 ways: four GPUs, and a warning naming the one left
    // out (the one with least room: another process holds 1 GiB of it).
    assert!(codes(&report).contains(&"deployctl::plan::gpus_left_out".to_owned()));
    let left_out = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "deployctl::plan::gpus_left_out")
        .unwrap();
    assert!(
        left_out["message"].as_str().unwrap().contains("GPU 4"),
        "{left_out}"
    );
    let env = report["launch"]["env"].as_array().unwrap();
    assert!(env.iter().any(
        |e| e[0] == "CUDA_VISIBLE_DEVICES" && !e[1].as_str().unwrap().contains("000000000004")
    ));
    assert_cmd_snapshot!(plan(&dir, &INVENTORY));
}

#[test]
fn a_model_pinned_to_the_second_gpu_because_the_first_is_busy() {
    let dir = example("pinned-second-gpu");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    assert_within_limits(&report);
    let d = devices(&report);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["index"], 1);
    assert_eq!(d[0]["cuda_ordinal"], 0);
    let env = report["launch"]["env"].as_array().unwrap();
    assert!(env.contains(&serde_json::json!([
        "CUDA_VISIBLE_DEVICES",
        "GPU-66666666-7777-8888-9999-000000000000"
    ])));

    // Pinning it to the busy GPU instead fails, and says why.
    let mut cmd = plan(&dir, &INVENTORY);
    cmd.args(["--set", "devices.gpus=[0]", "--format", "json"]);
    let out = cmd.output().unwrap();
    let busy: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(busy["plan"]["devices"][0]["limited_by"], "free");
    assert_cmd_snapshot!(plan(&dir, &INVENTORY));
}

#[test]
fn the_same_model_split_over_an_nvlink_pair() {
    let dir = example("nvlink-pair");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    assert_within_limits(&report);
    assert_eq!(
        report["plan"]["strategy"],
        serde_json::json!({"kind": "tensor", "size": 2})
    );
    assert_eq!(devices(&report).len(), 2);

    // Twice the batch of `pinned-second-gpu` does not fit one GPU of the pair.
    let mut cmd = plan(&dir, &INVENTORY);
    cmd.args([
        "--set",
        "devices.gpus=[0]",
        "--set",
        "parallelism.strategy=auto",
    ])
    .args(["--format", "json"]);
    let out = cmd.output().unwrap();
    let one: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{one:#}");
    assert_eq!(one["fits"], false);
}

#[test]
fn a_hand_written_map_with_a_missing_layer_an_overlap_and_a_misspelled_name() {
    let dir = broken("gemma3-27b-bad-map");
    let (code, report) = json(&dir, &["--gpus", "4xA100-40GB"]);
    assert_eq!(code, Some(1));
    let found = codes(&report);
    assert!(
        found.contains(&"deployctl::manifest::overlapping_layers".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"deployctl::plan::layers_unmapped".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"deployctl::plan::unknown_module".to_owned()),
        "{found:?}"
    );
    let unknown = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "deployctl::plan::unknown_module")
        .unwrap();
    assert_eq!(
        unknown["help"],
        "did you mean `language_model.model.layers.20`?"
    );
    let unmapped = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "deployctl::plan::layers_unmapped")
        .unwrap();
    assert!(
        unmapped["message"]
            .as_str()
            .unwrap()
            .contains("layers 20, 40"),
        "{unmapped}"
    );
    assert_cmd_snapshot!(plan(&dir, &["--gpus", "4xA100-40GB"]));
}

#[test]
fn a_hand_written_map_with_per_range_quantization() {
    let dir = example("gemma3-27b-manual-map");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    assert_within_limits(&report);
    let d = devices(&report);
    // Same-size ranges, harder quantization: fewer bytes.
    assert!(d[2]["weights"].as_u64() < d[1]["weights"].as_u64());
    assert!(d[3]["weights"].as_u64() < d[2]["weights"].as_u64());
    let topology = report["launch"]["topology"].as_str().unwrap();
    assert!(
        topology.contains("40-51: { isq: Q8_0, device: cuda[2] }"),
        "{topology}"
    );
    assert!(
        topology.contains("51-62: { isq: Q4K, device: cuda[3] }"),
        "{topology}"
    );

    // Without the per-range quantization, neither RTX 4090 has room for its range.
    let mut cmd = plan(&dir, &INVENTORY);
    cmd.args([
        "--set",
        r#"parallelism.map=[{layers="0-19",gpu=0},{layers="20-39",gpu=1},{layers="40-50",gpu=2},{layers="51-61",gpu=3}]"#,
        "--format",
        "json",
    ]);
    let out = cmd.output().unwrap();
    let bf16: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{bf16:#}");
    let over: Vec<_> = devices(&bf16)
        .iter()
        .filter(|d| d["total"].as_u64() > d["limit"].as_u64())
        .map(|d| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(over, [2, 3]);
    assert_cmd_snapshot!(plan(&dir, &INVENTORY));
}

/// Two runs print the same bytes, and both are a plan: two crashes, or two
/// empty outputs, would be identical too.
#[test]
fn plans_are_byte_identical_across_runs() {
    let dir = example("qwen2.5-vl-3b-4x15gb");
    let run = || {
        let out = plan(&dir, &INVENTORY)
            .args(["--format", "json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(!out.stdout.is_empty(), "nothing on stdout: {stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
        });
        assert_eq!(report["fits"], true, "{report:#}");
        assert!(
            report["plan"]["devices"]
                .as_array()
                .is_some_and(|d| !d.is_empty()),
            "no plan: {report:#}"
        );
        out.stdout
    };
    let first = run();
    let second = run();
    assert_eq!(
        String::from_utf8(first).unwrap(),
        String::from_utf8(second).unwrap()
    );
}

/// A mixture of experts four times one GPU's size fails with a budget error
/// that names the quantization and the GPU count that would fit. (It used to
/// plan as one dense MLP a layer, 13.49 GiB, and "fit".)
#[test]
fn mixtral_8x7b_does_not_fit_one_24gb_gpu() {
    let dir = broken("mixtral-8x7b-one-24gb");
    let hardware = ["--gpus", "1x24GiB"];
    let (code, report) = json(&dir, &hardware);
    assert_eq!(code, Some(3), "{report:#}");
    assert_eq!(report["fits"], false);
    assert!(codes(&report).contains(&"deployctl::plan::does_not_fit".to_owned()));
    // 46.7B parameters × 2 bytes.
    let weights = report["plan"]["weights_total"].as_u64().unwrap();
    assert!(
        (weights as f64 / (2.0 * 46.7e9) - 1.0).abs() < 0.005,
        "{weights}"
    );
    let help = report["diagnostics"][0]["help"].as_str().unwrap();
    assert!(help.contains("q3k") && help.contains("4 GPUs"), "{help}");
    assert_cmd_snapshot!(plan(&dir, &hardware));
}

/// Qwen3-30B-A3B fits four 24 GiB GPUs split four ways: every rank holds a
/// quarter of each expert's width, and the KV cache of its one KV head.
#[test]
fn qwen3_30b_a3b_splits_its_experts_over_four_gpus() {
    let dir = broken("qwen3-30b-a3b-four-24gb");
    let (code, report) = json(&dir, &["--gpus", "4x24GiB"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["plan"]["strategy"]["kind"], "tensor");
    assert_within_limits(&report);
    let total = report["plan"]["weights_total"].as_u64().unwrap();
    for d in devices(&report) {
        let w = d["weights"].as_u64().unwrap();
        // A quarter of the experts and attention, plus the whole embeddings
        // and routers.
        assert!(w > total / 4 && w < total / 3, "{w} of {total}");
        // 48 layers × 2 × 1 KV head × 128 × 2 bytes × 16,384 tokens.
        assert_eq!(d["kv_cache"].as_u64(), Some(48 * 2 * 128 * 2 * 16_384));
        assert_eq!(d["sources"]["weights"], "modelled");
    }
}

/// Layout keys the architecture's reader does not take are named, not
/// silently dropped.
#[test]
fn a_config_key_that_changes_the_layout_and_is_not_read_is_a_warning() {
    let dir = broken("config-with-unread-experts");
    let (code, report) = json(&dir, &["--gpus", "2x80GiB"]);
    assert_eq!(code, Some(0), "{report:#}");
    let warnings: Vec<&Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "deployctl::plan::unmodelled_config_key")
        .collect();
    assert_eq!(warnings.len(), 1, "{report:#}");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("`num_local_experts`")
    );
}

/// Architectures mistral.rs loads but deployctl lays out only from a
/// checkpoint ask for the checkpoint, from a config or a catalog entry alike.
#[test]
fn an_architecture_planned_only_from_its_checkpoint_asks_for_it() {
    for name in ["qwen3-next-config-only", "llama4-scout-catalog"] {
        let dir = broken(name);
        let (code, report) = json(&dir, &["--gpus", "2x80GiB"]);
        assert_eq!(code, Some(1), "{name}: {report:#}");
        assert_eq!(
            codes(&report),
            vec!["deployctl::plan::checkpoint_needed".to_owned()],
            "{name}"
        );
    }
    assert_cmd_snapshot!(plan(
        &broken("qwen3-next-config-only"),
        &["--gpus", "2x80GiB"]
    ));
}

/// The capacity `plan` prints is the edge of fitting: its figure fits, one
/// more does not. The tensor example holds its layout whatever the workload,
/// so the manifest's own plan agrees with the capacity search exactly.
#[test]
fn capacity_is_the_edge_of_fitting_and_auto_solves_to_it() {
    let dir = example("qwen1.5-72b-tensor-5xa100");
    let (code, report) = json(&dir, &INVENTORY);
    assert_eq!(code, Some(0), "{report:#}");
    let capacity = &report["plan"]["capacity"];
    for (key, set) in [
        ("max_seq_len", "workload.max_seq_len"),
        ("max_batch_size", "workload.max_batch_size"),
    ] {
        let bound = &capacity[key];
        assert_eq!(bound["limit"]["kind"], "memory", "{bound}");
        assert_eq!(bound["limit"]["term"], "kv_cache", "{bound}");
        let edge = bound["value"].as_u64().unwrap();
        for (value, fits) in [(edge, true), (edge + 1, false)] {
            let flag = format!("{set}={value}");
            let (code, report) = json(&dir, &[INVENTORY[0], INVENTORY[1], "--set", &flag]);
            assert_eq!(report["fits"], fits, "{flag}: {:#}", report["diagnostics"]);
            assert_eq!(code, Some(if fits { 0 } else { 3 }), "{flag}");
        }
        // `"auto"` plans at the edge, and the launch carries what it solved.
        let flag = format!("{set}=auto");
        let (code, report) = json(&dir, &[INVENTORY[0], INVENTORY[1], "--set", &flag]);
        assert_eq!(code, Some(0), "{flag}: {:#}", report["diagnostics"]);
        assert_eq!(report["plan"][key].as_u64(), Some(edge), "{flag}");
        let args: Vec<&str> = report["launch"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let flag = format!("--{}", key.replace('_', "-"));
        let at = args.iter().position(|a| *a == flag).expect(&flag);
        assert_eq!(args[at + 1], edge.to_string(), "{args:?}");
    }
    // A cap below the edge is what is solved.
    let (_, report) = json(
        &dir,
        &[
            INVENTORY[0],
            INVENTORY[1],
            "--set",
            "workload.max_seq_len={ auto = true, max = 4096 }",
        ],
    );
    assert_eq!(report["plan"]["max_seq_len"], 4096);
}
