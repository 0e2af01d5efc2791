//! Benchmark: planning large models over 8 GPUs with `strategy = "auto"`:
//! Llama-3.1-70B-Instruct (80 layers) and DeepSeek-V3 (61 layers, 256
//! routed experts, some 45,000 tensors), both from the built-in catalog.
//! Prints figures; it is not a pass/fail test. Run: `cargo bench --bench plan`.
//!
//! Each case times the planner alone, and the whole per-process work of a
//! `plan` command: laying the model out from its config, then planning.

use std::time::Instant;

use deployctl::inventory;
use deployctl::manifest::{Loader, Overrides};
use deployctl::model;
use deployctl::plan::{self, Settings};

fn median_ms(runs: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

fn case(source: &str, workload: &str, gpus: &str) {
    let dir = std::env::temp_dir().join("deployctl-plan-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("deploy.toml");
    std::fs::write(
        &path,
        format!("version = 1\n[model]\nsource = \"{source}\"\n[workload]\n{workload}\n"),
    )
    .unwrap();
    let manifest = Loader::new()
        .load(&path, &Overrides::default())
        .manifest
        .expect("valid manifest");
    let resolve = || {
        model::resolve(&manifest.model, &|_| None)
            .expect("catalog entry")
            .shape
    };
    let shape = resolve();
    let gpus = inventory::spec::parse(gpus).unwrap();
    let settings = Settings::default();
    let input = plan::Input {
        manifest: &manifest,
        shape: &shape,
        inventory: &gpus,
        settings: &settings,
        visible: None,
        weights: None,
    };
    let chosen = plan::plan(&input)
        .plan
        .map(|p| format!("{:?}", p.strategy))
        .unwrap_or_default();
    let runs = 30;
    let (median, min, max) = median_ms(runs, || {
        assert!(plan::plan(&input).plan.is_some());
    });
    let (whole, whole_min, whole_max) = median_ms(runs, || {
        let shape = resolve();
        let input = plan::Input {
            shape: &shape,
            ..input
        };
        assert!(plan::plan(&input).plan.is_some());
    });
    println!(
        "plan auto: {source}: {} layers, {} tensors, 8 GPUs (chose {chosen})\n  \
         planner: median {median:.2} ms (min {min:.2}, max {max:.2})\n  \
         layout + planner: median {whole:.2} ms (min {whole_min:.2}, max {whole_max:.2}) over {runs} runs",
        shape.text.layers,
        shape.tensors.len(),
    );
}

fn main() {
    case(
        "meta-llama/Llama-3.1-70B-Instruct",
        "max_seq_len = 32768\nmax_batch_size = 8",
        "8xH100-80GB",
    );
    case(
        "deepseek-ai/DeepSeek-V3",
        "max_seq_len = 32768\nmax_batch_size = 8",
        "8xH100-80GB",
    );
}
