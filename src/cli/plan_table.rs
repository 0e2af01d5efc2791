//! A plan for people (`deployctl plan`): one row per GPU, then decisions, candidates and the launch.

use std::fmt::Write as _;

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, Table};

use crate::launch::Launch;
use crate::plan::{Bound, Capacity, Kind, Limit, Plan};
use crate::units::ByteSize;

/// `12.34 GiB`: fixed precision, so columns line up.
pub(super) fn gib(bytes: ByteSize) -> String {
    format!("{:.2} GiB", bytes.0 as f64 / (1u64 << 30) as f64)
}

fn signed_gib(bytes: i64) -> String {
    let sign = if bytes < 0 { "−" } else { "" };
    format!("{sign}{}", gib(ByteSize(bytes.unsigned_abs())))
}

/// `███████░░░` of `total / limit`, ten cells; `!` past the limit.
fn bar(total: ByteSize, limit: ByteSize) -> String {
    if limit.0 == 0 {
        return "!".repeat(10);
    }
    let filled = ((total.0 as f64 / limit.0 as f64) * 10.0).round() as usize;
    if filled > 10 {
        return format!("{}!", "█".repeat(10));
    }
    format!("{}{}", "█".repeat(filled), "░".repeat(10 - filled))
}

fn layers_text(runs: &[[u64; 2]]) -> String {
    if runs.is_empty() {
        return "-".into();
    }
    crate::plan::range_texts(runs).join(",")
}

/// The per-GPU table.
pub(super) fn table(plan: &Plan) -> String {
    let mut table = Table::new();
    table.load_style(NOTHING).set_header([
        "GPU",
        "CUDA",
        "name",
        "layers",
        "weights",
        "KV cache",
        "activations",
        "overhead",
        "total",
        "limit",
        "headroom",
        "",
    ]);
    for d in &plan.devices {
        table.add_row([
            d.index.to_string(),
            d.cuda_ordinal.to_string(),
            d.name.clone(),
            layers_text(&d.layers),
            gib(d.weights),
            gib(d.kv_cache),
            gib(d.activations),
            gib(d.overhead),
            gib(d.total),
            gib(d.limit),
            signed_gib(d.headroom),
            bar(d.total, d.limit),
        ]);
    }
    if let Some(cpu) = &plan.cpu {
        table.add_row([
            "CPU".into(),
            "-".into(),
            if plan.strategy == Kind::Cpu {
                "host memory"
            } else {
                "host memory (f32)"
            }
            .into(),
            layers_text(&cpu.layers),
            gib(cpu.bytes),
            "".into(),
            "".into(),
            "".into(),
            gib(cpu.bytes),
            "".into(),
            "".into(),
            "".into(),
        ]);
    }
    for i in 4..11 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut text = table.to_string();
    // comfy-table pads every line to the table's width; trailing spaces only
    // make diffs and snapshots noisy.
    text = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}

/// The whole human report. `header` says what was planned, from where.
pub(super) fn human(
    plan: &Plan,
    header: &[(String, String)],
    launch: &Launch,
    explain: bool,
) -> String {
    let mut out = String::new();
    let width = header.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in header {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    let strategy = plan.strategy.describe(plan.devices.len());
    let _ = writeln!(out, "{:<width$}  {strategy}\n", "strategy");
    out.push_str(&table(plan));
    if let Some(d) = plan.devices.first() {
        let s = &d.sources;
        let _ = writeln!(
            out,
            "figures: weights {}, KV cache {}, activations {}, overhead {}",
            s.weights.as_str(),
            s.kv_cache.as_str(),
            s.activations.as_str(),
            s.overhead.as_str()
        );
    }
    if let Some(capacity) = &plan.capacity {
        out.push_str("\nCapacity (solved over this memory model):\n");
        out.push_str(&capacity_lines(capacity, plan, "  "));
    }
    if !plan.decisions.is_empty() {
        out.push_str("\nDecisions:\n");
        for d in &plan.decisions {
            let _ = writeln!(out, "  - {d}");
        }
    }
    if !plan.candidates.is_empty() {
        out.push_str("\nCandidates considered by `auto`:\n");
        for c in &plan.candidates {
            let mark = if c.chosen {
                "→"
            } else if c.fits {
                "✓"
            } else {
                "✗"
            };
            if c.chosen {
                let _ = writeln!(out, "  {mark} {} (chosen)", c.description);
            } else {
                let why = c.reason.map(|r| format!(": {r}")).unwrap_or_default();
                let _ = writeln!(out, "  {mark} {}{why}", c.description);
                if let Some(capacity) = &c.capacity {
                    out.push_str(&capacity_lines(capacity, plan, "      "));
                }
            }
        }
    }
    if explain {
        out.push_str(&explain_terms(plan));
        let c = &plan.comparison;
        out.push_str("\nThe same model and GPUs elsewhere:\n");
        let split = plan
            .devices
            .iter()
            .zip(&c.mistralrs_auto_layers)
            .map(|(d, n)| format!("GPU {}: {n}", d.index))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "  mistral.rs automatic mapper (its formulas, free memory, no max_memory): {split}{}",
            if c.mistralrs_auto_cpu_layers > 0 {
                format!(", CPU: {}", c.mistralrs_auto_cpu_layers)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "  accelerate estimate-memory (weights only): {}",
            gib(c.accelerate_weights)
        );
    }
    let _ = writeln!(out, "\nLaunch ({}):", crate::RUNTIME);
    let _ = writeln!(out, "  {}", launch.command_line());
    for r in &launch.requires {
        let _ = writeln!(out, "  requires {r}");
    }
    if let Some(topology) = &launch.topology {
        out.push_str("\ntopology.yml:\n");
        for line in topology.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// `max_seq_len     up to 23552 at max_batch_size 4 (GPU 1's KV cache)`.
pub(super) fn capacity_lines(capacity: &Capacity, plan: &Plan, indent: &str) -> String {
    let mut out = String::new();
    let mut line = |key: &str, bound: Option<Bound>, at: String| {
        let text = match bound {
            None => format!("nothing fits at {at}"),
            Some(b) => format!("up to {} at {at} ({})", b.value, limit_text(b.limit)),
        };
        let _ = writeln!(out, "{indent}{key:<15} {text}");
    };
    line(
        "max_seq_len",
        capacity.max_seq_len,
        format!("max_batch_size {}", plan.max_batch_size),
    );
    line(
        "max_batch_size",
        capacity.max_batch_size,
        format!("max_seq_len {}", plan.max_seq_len),
    );
    out
}

/// `GPU 1's KV cache`, `the model's context length`.
pub(super) fn limit_text(limit: Limit) -> String {
    match limit {
        Limit::Memory { gpu, term } => format!("bound by GPU {gpu}'s {}", term.name()),
        Limit::Ceiling { ceiling } => format!("all {ceiling} searched fit"),
    }
}

fn explain_terms(plan: &Plan) -> String {
    let mut out = String::from("\nHow each term is computed (docs/memory-model.md):\n");
    let _ = writeln!(
        out,
        "  weights      Σ tensor bytes of the device's layers at {} ({}), plus embeddings, lm_head and the vision tower on the first GPU",
        plan.dtype.name(),
        if plan.quantization == crate::units::Quantization::None {
            "no quantization".to_owned()
        } else {
            format!(
                "{} at {} bits per weight for attention/MLP projections and lm_head",
                plan.quantization.name(),
                crate::plan::memory::bits_per_weight(plan.quantization).unwrap_or(16.0)
            )
        }
    );
    let _ = writeln!(
        out,
        "  KV cache     layers × elements per token (2 × KV heads × head_dim, or the latent and rope key) × bytes × the tokens of the paged blocks mistral.rs allocates for {} × {} tokens",
        plan.max_seq_len, plan.max_batch_size
    );
    let _ = writeln!(
        out,
        "  activations  prefill peak: hidden states + max(attention scores for a 1024-token query chunk, MLP), plus logits and the vision tower ({} image(s) of {}×{}) on the first GPU",
        plan.max_images, plan.image_size[0], plan.image_size[1]
    );
    let _ = writeln!(
        out,
        "  overhead     CUDA context and library workspaces per GPU (--overhead), plus NCCL buffers under tensor parallelism"
    );
    let _ = writeln!(
        out,
        "  limit        min(max_memory, total − reserve, free − reserve)"
    );
    out
}
