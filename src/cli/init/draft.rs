//! A manifest before it is text: everything `init` writes, and why `auto`
//! chose its layout.

use std::fmt::Write as _;

use super::{Args, Gpus};
use crate::diagnostic::display_path;
use crate::inventory::Inventory;
use crate::manifest::ModelSource;
use crate::model::{Modality, Resolved, ShapeOrigin};
use crate::plan::{Kind, Plan};
use crate::units::{ByteSize, ComputeCapability, DType, Quantization};

/// What `[devices.expect]` records: one count and one size, so mixed GPUs are
/// recorded by the smallest.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Expect {
    pub(super) count: usize,
    pub(super) memory: ByteSize,
    pub(super) min_compute_capability: Option<ComputeCapability>,
    pub(super) mixed: bool,
}

pub(super) fn expect_of(inventory: &Inventory) -> Option<Expect> {
    let gpus: Vec<_> = inventory.gpus.iter().filter(|g| !g.mig).collect();
    let memory = gpus.iter().map(|g| g.memory_total).min()?;
    let capabilities: Vec<_> = gpus.iter().map(|g| g.compute_capability).collect();
    Some(Expect {
        count: gpus.len(),
        memory,
        // Only when every GPU says: an unknown one could be older.
        min_compute_capability: capabilities
            .iter()
            .copied()
            .collect::<Option<Vec<_>>>()
            .and_then(|c| c.into_iter().min()),
        mixed: gpus.iter().any(|g| g.memory_total != memory),
    })
}

/// A size as a person writes it: whole GiB or MiB where it is one, else bytes.
/// The exact size in the largest unit that holds it whole: `16GB` stays
/// `16GB`, not sixteen billion bytes.
pub(super) fn size_text(size: ByteSize) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1, "B"),
    ];
    let (unit, name) = UNITS
        .iter()
        .find(|(unit, _)| size.0 % unit == 0 && size.0 >= *unit)
        .copied()
        .unwrap_or((1, "B"));
    format!("{}{name}", size.0 / unit)
}

/// A TOML string literal.
pub(super) fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// How the model is spread over the GPUs, as the manifest writes it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Layout {
    /// No GPUs known: `auto` decides when they are.
    Undecided,
    /// `strategy = "auto"`.
    Auto,
    Tensor {
        size: u64,
        gpus: Option<Vec<u32>>,
    },
    Pipeline {
        gpus: Option<Vec<u32>>,
        layers: Vec<u64>,
    },
}

/// Everything the manifest says, before it is text.
#[derive(Debug, Clone)]
pub(super) struct Draft {
    pub(super) command: String,
    pub(super) output: String,
    pub(super) model_label: String,
    pub(super) hardware_label: Option<String>,
    /// The command that plans this file: `deployctl plan FILE`, with the GPUs
    /// where `[devices.expect]` cannot say them.
    pub(super) plan_command: String,
    pub(super) name: String,
    pub(super) source: String,
    pub(super) source_note: String,
    pub(super) hub: bool,
    /// A GGUF file holds its weights quantized already.
    pub(super) gguf: bool,
    pub(super) architecture: String,
    pub(super) modality: Modality,
    /// What `dtype = "auto"` resolved to, once planned.
    pub(super) dtype: Option<DType>,
    pub(super) quantization: Quantization,
    pub(super) max_seq_len: u64,
    pub(super) context: u64,
    pub(super) from_flag: bool,
    pub(super) expect: Option<Expect>,
    pub(super) layout: Layout,
    /// Why `auto` picks what it picks, above `[parallelism]`; kept when that
    /// layout is written out.
    pub(super) why: Vec<String>,
}

impl Draft {
    pub(super) fn new(
        args: &Args,
        model_text: &str,
        source: &ModelSource,
        source_text: String,
        resolved: &Resolved,
        gpus: &Gpus,
    ) -> Self {
        let model_label = match source {
            ModelSource::Hub { .. } => source_text.clone(),
            ModelSource::LocalDirectory { path } | ModelSource::Gguf { path } => path
                .file_name()
                .map_or_else(|| source_text.clone(), |n| n.to_string_lossy().into_owned()),
        };
        let hub = matches!(source, ModelSource::Hub { .. });
        let gguf = matches!(source, ModelSource::Gguf { .. });
        let name = deployment_name(&model_label, source);
        let source_note = match (source, &resolved.origin) {
            (ModelSource::Hub { .. }, ShapeOrigin::Catalog { .. }) => {
                "hub id; its shape comes from the built-in catalog"
            }
            (ModelSource::Hub { .. }, _) => "hub id; its shape comes from the Hugging Face cache",
            (ModelSource::Gguf { .. }, ShapeOrigin::Gguf { .. }) => {
                "GGUF file; its header gives the exact sizes"
            }
            (_, ShapeOrigin::LocalDirectory { .. }) => {
                "checkpoint; config.json and safetensors give the sizes"
            }
            (_, _) => "not here; its shape comes from the built-in catalog",
        }
        .to_owned();
        let context = resolved.shape.text.max_position_embeddings;
        let mut command = format!("deployctl init --model {}", shell_word(model_text));
        if let Some(spec) = &args.gpus {
            let _ = write!(command, " --gpus {}", shell_word(spec));
        }
        if let Some(n) = args.max_seq_len {
            let _ = write!(command, " --max-seq-len {n}");
        }
        let output = if args.output.as_os_str() == "-" {
            "deploy.toml".to_owned()
        } else {
            display_path(&args.output)
        };
        let expect = gpus.inventory().and_then(expect_of);
        // `plan FILE` plans against `[devices.expect]`, which mixed GPUs cannot fill.
        let plan_command = match (gpus, expect.as_ref().is_some_and(|e| e.mixed)) {
            (Gpus::Spec(spec, _), true) => {
                format!("deployctl plan {output} --gpus {}", shell_word(spec))
            }
            (Gpus::Live(_), true) => format!("deployctl plan {output} --inventory gpus.toml"),
            (Gpus::Unknown, _) => format!("deployctl plan {output} --gpus SPEC"),
            _ => format!("deployctl plan {output}"),
        };
        Draft {
            command,
            output,
            model_label,
            hardware_label: gpus.inventory().map(Inventory::describe),
            plan_command,
            name,
            source: source_text,
            source_note,
            hub,
            gguf,
            architecture: resolved.shape.architecture.clone(),
            modality: resolved.shape.modality,
            dtype: None,
            quantization: Quantization::None,
            max_seq_len: args.max_seq_len.unwrap_or(context),
            context,
            from_flag: args.max_seq_len.is_some(),
            expect,
            layout: match gpus {
                Gpus::Unknown => Layout::Undecided,
                _ => Layout::Auto,
            },
            why: Vec::new(),
        }
    }

    pub(super) fn title(&self) -> String {
        match &self.hardware_label {
            Some(hw) => format!("{} on {hw}", self.model_label),
            None => format!("{} (no GPUs known)", self.model_label),
        }
    }

    /// The strategy `auto` picked, written out, where the manifest can say it:
    /// tensor parallelism and pipelines. One GPU stays `auto`.
    pub(super) fn pinnable(&self, plan: &Plan, inventory: &Inventory) -> Option<Layout> {
        let used: Vec<u32> = plan.devices.iter().map(|d| d.index).collect();
        let all: Vec<u32> = inventory
            .gpus
            .iter()
            .filter(|g| !g.mig)
            .map(|g| g.index)
            .collect();
        let mut sorted = used.clone();
        sorted.sort_unstable();
        let gpus = (sorted != all).then_some(sorted);
        match plan.strategy {
            Kind::Tensor { size } => Some(Layout::Tensor { size, gpus }),
            Kind::Pipeline if plan.cpu.is_none() => Some(Layout::Pipeline {
                gpus,
                layers: plan.devices.iter().map(|d| d.layer_count).collect(),
            }),
            _ => None,
        }
    }
}

/// The deployment's name from the model's: lower case, in the characters a
/// model id may hold.
pub(super) fn deployment_name(label: &str, source: &ModelSource) -> String {
    let base = match source {
        ModelSource::Hub { .. } => label.rsplit('/').next().unwrap_or(label),
        ModelSource::Gguf { .. } => label.rsplit_once('.').map_or(label, |(stem, ext)| {
            if ext.eq_ignore_ascii_case("gguf") {
                stem
            } else {
                label
            }
        }),
        ModelSource::LocalDirectory { .. } => label,
    };
    crate::manifest::slug(&base.to_lowercase()).unwrap_or_else(|| "deployment".to_owned())
}

/// A word as a POSIX shell reads it back, for the commands in comments; quoted
/// only where it must be.
pub(super) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:@%+=".contains(c));
    if plain {
        word.to_owned()
    } else {
        crate::launch::cli::quote(word)
    }
}

/// Why `auto` picked its layout, from the planner's candidates.
pub(super) fn why_auto(plan: &Plan, pinned: bool) -> Vec<String> {
    let Some(winner) = plan.candidates.iter().find(|c| c.chosen) else {
        return Vec::new();
    };
    let headroom = plan
        .devices
        .iter()
        .map(|d| d.headroom)
        .min()
        .unwrap_or(0)
        .max(0);
    let mut lines = vec![if plan.candidates.len() == 1 {
        format!(
            "auto picks {}, the only layout for one GPU.",
            winner.description
        )
    } else {
        format!(
            "auto picks {}: of the layouts that fit, it leaves the most memory free on its tightest GPU ({}).",
            winner.description,
            ByteSize(headroom as u64)
        )
    }];
    if pinned {
        lines.push("Written out below, so the plan changes only when this file does.".to_owned());
    }
    let others: Vec<_> = plan.candidates.iter().filter(|c| !c.chosen).collect();
    if !others.is_empty() {
        lines.push("The others:".to_owned());
        for c in others {
            let why = c.reason.map(|r| format!(": {r}")).unwrap_or_default();
            lines.push(format!("  {}{why}", c.description));
        }
    }
    lines
}
