//! mistral.rs 0.8.1 panics on some launches instead of reporting them: a layer
//! map of two or more entries summing above the model's layers (an
//! `assert_eq!` in its device mapper), and a topology shorter than the model
//! (an index out of bounds when a layer past its end is placed). A plan that
//! passes validation and planning without errors must never compile to either.
//! This walks many generated manifests through the real loader, planner and
//! compiler and checks every launch that would be allowed to start.

use std::collections::BTreeMap;

use deployctl::inventory;
use deployctl::launch::{self, Devices};
use deployctl::manifest::{Loader, Overrides};
use deployctl::model;
use deployctl::plan::{self, Settings};

const MODELS: [&str; 6] = [
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-VL-3B-Instruct",
    "google/gemma-3-27b-it",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "Qwen/Qwen2.5-72B-Instruct",
];
const MEMORY_GIB: [u64; 6] = [12, 16, 24, 40, 48, 80];
const QUANTIZATION: [&str; 4] = ["", "q8_0", "q6k", "q4k"];

/// Deterministic draws, so a failure reproduces.
struct Draw(u64);

impl Draw {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn layers_of(id: &str) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.toml");
    std::fs::write(&path, format!("version = 1\n[model]\nsource = \"{id}\"\n")).unwrap();
    let manifest = Loader::new()
        .load(&path, &Overrides::default())
        .manifest
        .unwrap();
    model::resolve(&manifest.model, &|_| None)
        .unwrap()
        .shape
        .text
        .layers
}

/// A strategy table for `layers` over `gpus`: automatic, pipeline (planned or
/// hand-split, not always summing right) or a manual map (sometimes with a gap
/// or an overlap), with per-range quantization.
fn parallelism(draw: &mut Draw, layers: u64, gpus: u64) -> (&'static str, String) {
    match draw.below(4) {
        0 => ("auto", "strategy = \"auto\"\n".into()),
        1 => ("pipeline", "strategy = \"pipeline\"\n".into()),
        2 => {
            let mut split: Vec<u64> = vec![0; gpus as usize];
            for _ in 0..layers + draw.below(3) {
                split[draw.below(gpus) as usize] += 1;
            }
            let split = split.iter().map(u64::to_string).collect::<Vec<_>>();
            (
                "pipeline",
                format!("strategy = \"pipeline\"\nlayers = [{}]\n", split.join(", ")),
            )
        }
        _ => {
            let ranges = 1 + draw.below(gpus.min(4));
            let mut cuts: Vec<u64> = (0..ranges - 1)
                .map(|_| 1 + draw.below(layers - 1))
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(layers);
            let mut entries = Vec::new();
            for (i, pair) in bounds.windows(2).enumerate() {
                // Now and then a range that stops short or runs over.
                let end = match draw.below(12) {
                    0 => pair[1].saturating_sub(2).max(pair[0] + 1),
                    1 => (pair[1] + 1).min(layers),
                    _ => pair[1],
                };
                let q = QUANTIZATION[draw.below(4) as usize];
                let q = if q.is_empty() {
                    String::new()
                } else {
                    format!(", quantization = \"{q}\"")
                };
                entries.push(format!(
                    "  {{ layers = \"{}-{}\", gpu = {}{q} }},",
                    pair[0],
                    end - 1,
                    i as u64 % gpus
                ));
            }
            (
                "manual",
                format!(
                    "strategy = \"manual\"\nmap = [\n{}\n]\n",
                    entries.join("\n")
                ),
            )
        }
    }
}

#[test]
fn no_plan_that_may_start_hands_mistralrs_a_launch_it_panics_on() {
    let layers: BTreeMap<&str, u64> = MODELS.iter().map(|id| (*id, layers_of(id))).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy.toml");
    let mut draw = Draw(0x0dd5eed);
    let mut started: BTreeMap<&str, u32> = BTreeMap::new();
    for case in 0..600 {
        let id = MODELS[draw.below(MODELS.len() as u64) as usize];
        let model_layers = layers[id];
        let gpus = 1 + draw.below(8);
        let memory = MEMORY_GIB[draw.below(MEMORY_GIB.len() as u64) as usize];
        let (kind, table) = parallelism(&mut draw, model_layers, gpus);
        let quantization = QUANTIZATION[draw.below(4) as usize];
        let quantization = if quantization.is_empty() {
            String::new()
        } else {
            format!("[precision]\nquantization = \"{quantization}\"\n")
        };
        let text = format!(
            "version = 1\n[model]\nsource = \"{id}\"\n{quantization}\
             [workload]\nmax_seq_len = {}\n\
             [devices]\ngpus = [{}]\ncpu_offload = {}\n[parallelism]\n{table}",
            [2048, 8192, 32768][draw.below(3) as usize],
            (0..gpus)
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            draw.below(2) == 0,
        );
        std::fs::write(&path, &text).unwrap();
        let loaded = Loader::new().load(&path, &Overrides::default());
        let Some(manifest) = loaded.manifest else {
            continue;
        };
        let shape = model::resolve(&manifest.model, &|_| None).unwrap().shape;
        let gpu_spec = format!("{gpus}x{memory}GiB");
        let hardware = inventory::spec::parse(&gpu_spec).unwrap();
        let outcome = plan::plan(&plan::Input {
            manifest: &manifest,
            shape: &shape,
            inventory: &hardware,
            settings: &Settings::default(),
            visible: None,
            weights: None,
        });
        let Some(plan) = outcome.plan.as_ref().filter(|_| !outcome.has_errors()) else {
            continue;
        };
        *started.entry(kind).or_default() += 1;
        let description = launch::compile(&manifest, &shape, plan);
        let context = format!(
            "case {case} on {gpu_spec}:\n{text}\n{:?}",
            description.devices
        );
        let visible = description
            .env
            .iter()
            .find(|(k, _)| k == "CUDA_VISIBLE_DEVICES")
            .map_or(0, |(_, v)| v.split(',').count());
        match &description.devices {
            Devices::Layers { per_device } => {
                let sum: u64 = per_device.iter().map(|(_, n)| n).sum();
                assert!(!per_device.is_empty(), "{context}");
                assert!(sum <= model_layers, "{context}");
                if !manifest.devices.cpu_offload {
                    assert_eq!(sum, model_layers, "layers left to the CPU: {context}");
                }
                for (ordinal, _) in per_device {
                    assert!(*ordinal < visible, "ordinal not visible: {context}");
                }
            }
            Devices::Topology { ranges } => {
                let mut next = 0;
                for r in ranges {
                    assert_eq!(r.start, next, "gap or overlap: {context}");
                    assert!(r.end > r.start, "{context}");
                    assert!(r.ordinal < visible, "ordinal not visible: {context}");
                    next = r.end;
                }
                assert_eq!(
                    next, model_layers,
                    "topology shorter than the model: {context}"
                );
            }
            Devices::TensorParallel { size } => {
                assert_eq!(*size as usize, visible, "{context}");
                assert_eq!(shape.text.heads % size, 0, "{context}");
            }
            Devices::Cpu => {}
        }
    }
    // Every kind of strategy produced launches to check: the test is not vacuous.
    for kind in ["auto", "pipeline", "manual"] {
        assert!(
            started.get(kind).copied().unwrap_or(0) >= 20,
            "too few {kind} plans could start: {started:?}"
        );
    }
    eprintln!("launches checked: {started:?}");
}
