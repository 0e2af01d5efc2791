//! The manifest text `init` writes: one aligned table per manifest table, each
//! key with a one-line comment, alternatives commented out.

use std::fmt::Write as _;

use super::draft::{Expect, quoted, size_text};
use super::*;

/// One line of a table: a key, a commented-out key, or a comment of its own.
pub(super) enum Row {
    Key(String, String),
    Off(String, String),
    Note(String),
}

pub(super) fn key(code: impl Into<String>, comment: impl Into<String>) -> Row {
    Row::Key(code.into(), comment.into())
}

pub(super) fn off(code: impl Into<String>, comment: impl Into<String>) -> Row {
    Row::Off(code.into(), comment.into())
}

/// Comments wider than this wrap; keys wider than `ALIGN_MAX` do not push the
/// comment column of their whole table.
const WIDTH: usize = 96;
const ALIGN_MAX: usize = 34;

/// A block of rows with their comments in one column, as people align them.
pub(super) fn block(out: &mut String, rows: &[Row]) {
    let code = |r: &Row| match r {
        Row::Key(c, _) => Some(c.clone()),
        Row::Off(c, _) => Some(format!("# {c}")),
        Row::Note(_) => None,
    };
    let column = rows
        .iter()
        .filter_map(code)
        .map(|c| c.chars().count())
        .filter(|n| *n <= ALIGN_MAX)
        .max()
        .unwrap_or(0);
    for row in rows {
        match (row, code(row)) {
            (Row::Note(text), _) => {
                for line in wrap(text, WIDTH - 2) {
                    let _ = writeln!(out, "# {line}");
                }
            }
            (Row::Key(_, comment) | Row::Off(_, comment), Some(code)) => {
                if comment.is_empty() {
                    let _ = writeln!(out, "{code}");
                } else {
                    let pad = column.saturating_sub(code.chars().count());
                    let _ = writeln!(out, "{code}{}  # {comment}", " ".repeat(pad));
                }
            }
            _ => {}
        }
    }
}

/// Splits `text` into lines of at most `width` characters at spaces. An
/// indented text (a list item) hangs its further lines two columns deeper.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let indent = text.len() - text.trim_start_matches(' ').len();
    let hang = if indent > 0 { indent + 2 } else { 0 };
    let mut lines = Vec::new();
    let mut line = " ".repeat(indent);
    for word in text.split_whitespace() {
        if !line.trim().is_empty() {
            if line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::replace(&mut line, " ".repeat(hang)));
            } else {
                line.push(' ');
            }
        }
        line.push_str(word);
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines
}

/// The manifest text: one block per table, each with its comments aligned.
pub(super) fn render(d: &Draft) -> String {
    let tables = [
        header(d),
        top(d),
        model_table(d),
        precision_table(d),
        workload_table(d),
        devices_table(d),
        expect_table(d),
        parallelism_table(d),
        server_table(),
    ];
    let mut out = String::new();
    for (i, rows) in tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        block(&mut out, rows);
    }
    out
}

fn header(d: &Draft) -> Vec<Row> {
    vec![
        Row::Note(format!("{}.", d.title())),
        Row::Note(format!(
            "Written by `{}`. Check it with `deployctl validate {}`; see where every layer \
             and byte goes with `{}`.",
            d.command, d.output, d.plan_command
        )),
        Row::Note(
            "Editors complete and check every key with the schema: `deployctl schema > \
             deploy.schema.json`, then `#:schema ./deploy.schema.json` as the first line."
                .into(),
        ),
    ]
}

fn top(d: &Draft) -> Vec<Row> {
    vec![
        key("version = 1", "the manifest format; 1 is the only one"),
        key(
            format!("name = {}", quoted(&d.name)),
            "the deployment, served as the model id",
        ),
        off(
            "extends = [\"base.toml\"]",
            "files merged underneath this one, lowest first",
        ),
    ]
}

fn model_table(d: &Draft) -> Vec<Row> {
    let (kind, takes) = match d.modality {
        Modality::Text => ("text", "takes text only"),
        Modality::Multimodal => ("multimodal", "takes images and text"),
    };
    let mut rows = vec![
        key("[model]", ""),
        key(format!("source = {}", quoted(&d.source)), &d.source_note),
        key(
            format!("kind = \"{kind}\""),
            format!(
                "{} {takes}; \"auto\" reads it from the model",
                d.architecture
            ),
        ),
        off(
            "config = \"config.json\"",
            "the model's config.json beside this file: CI plans without weights",
        ),
    ];
    if d.hub {
        rows.push(off(
            "revision = \"main\"",
            "a branch, tag or commit of the hub repository",
        ));
    }
    rows
}

fn precision_table(d: &Draft) -> Vec<Row> {
    let in_dtype = d
        .dtype
        .map_or("in dtype".to_owned(), |t| format!("in {}", t.name()));
    let mut rows = vec![
        key("[precision]", ""),
        key(
            "dtype = \"auto\"",
            match d.dtype {
                Some(DType::F16) => {
                    "f16 here, as bf16 needs compute capability 8.0; or \"f32\"".to_owned()
                }
                Some(t) => format!("{} on these GPUs; or \"f16\", \"f32\"", t.name()),
                None => "bf16 where every GPU has compute capability 8.0, else f16".to_owned(),
            },
        ),
    ];
    if d.gguf {
        rows.push(key(
            "quantization = \"none\"",
            "weights as the GGUF file stores them, quantized already",
        ));
    } else if d.quantization == Quantization::None {
        rows.push(key(
            "quantization = \"none\"",
            format!("weights {in_dtype}; \"q8_0\", \"q6k\", \"q4k\" trade quality for memory"),
        ));
    } else {
        rows.push(key(
            format!("quantization = \"{}\"", d.quantization.name()),
            "the least lossy quantization with which the model fits",
        ));
        rows.push(off(
            "quantization = \"none\"",
            format!("weights {in_dtype}: too large for these GPUs"),
        ));
    }
    rows.push(key(
        "kv_cache = \"auto\"",
        format!("the KV cache {in_dtype}; \"f8e4m3\" halves it"),
    ));
    rows
}

fn workload_table(d: &Draft) -> Vec<Row> {
    let mut rows = vec![
        key("[workload]", ""),
        key(
            format!("max_seq_len = {}", d.max_seq_len),
            if d.max_seq_len != d.context {
                format!(
                    "tokens per sequence, prompt and answer; the model's context is {}",
                    d.context
                )
            } else {
                "tokens per sequence, prompt and answer: the model's context".to_owned()
            },
        ),
        key(
            "max_batch_size = 1",
            "sequences held in memory at once; the KV cache grows with both",
        ),
    ];
    if d.modality == Modality::Multimodal {
        rows.push(key("max_images = 1", "images per request"));
        rows.push(key(
            "max_image_size = [1024, 1024]",
            "the largest image, [height, width] in pixels",
        ));
    }
    rows
}

fn devices_table(d: &Draft) -> Vec<Row> {
    let pinned = match &d.layout {
        Layout::Tensor { gpus, .. } | Layout::Pipeline { gpus, .. } => gpus.as_ref(),
        _ => None,
    };
    let gpus = match pinned {
        Some(gpus) => key(
            format!("gpus = {}", int_list(gpus.iter().map(|g| u64::from(*g)))),
            "the GPUs the plan uses; the others stay free",
        ),
        None => off(
            format!(
                "gpus = {}",
                int_list(0..d.expect.as_ref().map_or(2, |e| e.count.max(1)) as u64)
            ),
            "ordinals or \"GPU-…\" UUIDs; default: every visible GPU",
        ),
    };
    vec![
        key("[devices]", ""),
        gpus,
        off(
            "max_memory = \"90%\"",
            "cap each GPU: one size, one per GPU, or a share",
        ),
        key(
            "reserve = \"512MiB\"",
            "kept free on each GPU for the CUDA context and workspaces",
        ),
        key(
            "cpu_offload = false",
            "layers never spill to host memory, which is slow",
        ),
    ]
}

fn expect_table(d: &Draft) -> Vec<Row> {
    let title = "the hardware this is for: CI plans on it, apply checks it";
    match &d.expect {
        None => vec![
            off("[devices.expect]", title),
            off("count = 4", "GPUs"),
            off("memory = \"80GiB\"", "memory of each GPU"),
            off(
                "min_compute_capability = \"8.0\"",
                "the oldest GPU's CUDA compute capability",
            ),
        ],
        Some(e) if e.mixed => vec![
            key(
                "[devices.expect]",
                "the hardware this is for: apply checks it",
            ),
            Row::Note(if d.plan_command.contains("--inventory") {
                format!(
                    "These GPUs differ in memory, and `memory` is one size for all: record them \
                     with `deployctl gpus --record gpus.toml` and plan with `{}`.",
                    d.plan_command
                )
            } else {
                format!(
                    "These GPUs differ in memory, and `memory` is one size for all: plan with `{}`.",
                    d.plan_command
                )
            }),
            key(format!("count = {}", e.count), "GPUs"),
            off(
                format!("memory = \"{}\"", size_text(e.memory)),
                "the smallest GPU's; CI would plan every GPU this small",
            ),
            capability(e),
        ],
        Some(e) => vec![
            key("[devices.expect]", title),
            key(format!("count = {}", e.count), "GPUs"),
            key(
                format!("memory = \"{}\"", size_text(e.memory)),
                "memory of each GPU",
            ),
            capability(e),
        ],
    }
}

fn capability(e: &Expect) -> Row {
    let cc = "the oldest GPU's CUDA compute capability";
    match e.min_compute_capability {
        Some(c) => key(format!("min_compute_capability = \"{c}\""), cc),
        None => off("min_compute_capability = \"8.0\"", cc),
    }
}

fn parallelism_table(d: &Draft) -> Vec<Row> {
    let tensor = "every layer split across the GPUs; needs NCCL (`--features nccl`)";
    let pipeline = "contiguous ranges of layers per GPU, in order";
    let auto = "the planner picks on every plan: one GPU, tensor or pipeline";
    let mut rows = vec![key("[parallelism]", "")];
    let why = match &d.layout {
        Layout::Undecided => vec![format!(
            "No GPUs were known when this was written (no --gpus, no NVIDIA driver), so nothing \
             was planned: fill in [devices.expect], or run `{}`.",
            d.plan_command
        )],
        Layout::Auto | Layout::Tensor { .. } | Layout::Pipeline { .. } => d.why.clone(),
    };
    rows.extend(why.into_iter().map(Row::Note));
    match &d.layout {
        Layout::Undecided | Layout::Auto => rows.extend([
            key("strategy = \"auto\"", auto),
            off("strategy = \"pipeline\"", pipeline),
            off("strategy = \"tensor\"", tensor),
        ]),
        Layout::Tensor { size, .. } => rows.extend([
            key("strategy = \"tensor\"", tensor),
            key(
                format!("tensor_size = {size}"),
                "GPUs in the group: a power of two that divides the heads",
            ),
            off("strategy = \"pipeline\"", pipeline),
            off("strategy = \"auto\"", auto),
        ]),
        Layout::Pipeline { layers, .. } => rows.extend([
            key("strategy = \"pipeline\"", pipeline),
            off(
                format!("layers = {}", int_list(layers.iter().copied())),
                "decoder layers per GPU; unset, each GPU's room decides",
            ),
            off("strategy = \"tensor\"", tensor),
            off("strategy = \"auto\"", auto),
        ]),
    }
    rows.push(off(
        "strategy = \"manual\"",
        "a hand-written layer map: `map` or `map_file`",
    ));
    rows
}

fn server_table() -> Vec<Row> {
    vec![
        key("[server]", ""),
        key(
            "host = \"127.0.0.1\"",
            "loopback only; any other address needs api_key",
        ),
        key("port = 8080", "the OpenAI-compatible API"),
        off(
            "max_seqs = 1",
            "sequences served at once; default: workload.max_batch_size",
        ),
        off(
            "api_key = { env = \"DEPLOYCTL_API_KEY\" }",
            "read at start-up; never the key itself",
        ),
    ]
}

fn int_list(items: impl Iterator<Item = u64>) -> String {
    format!(
        "[{}]",
        items.map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
    )
}
