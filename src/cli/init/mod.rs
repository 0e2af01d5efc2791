//! `deployctl init`: write a commented manifest for a model and the GPUs it
//! will run on. Each draft is loaded and planned exactly as `plan` would, so
//! the file that lands validates and plans as written, and says why the
//! planner chose what it chose.

mod draft;
mod drafts;
mod source;
mod template;
#[cfg(test)]
mod tests;

use draft::{Draft, Layout, why_auto};
use drafts::{Drafts, internal, layout_name, same_layout};
use source::{catalog_list, did_you_mean, resolve, written_source};
use template::render;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::exit::Exit;

use crate::diagnostic::{display_path, io_reason};
use crate::inventory::{self, Inventory, nvml};
use crate::manifest::{classify_source, normalize_path};
use crate::model::Modality;
use crate::units::{DType, Quantization};

pub(super) const AFTER_HELP: &str = "\
The manifest is loaded and planned before it is written, exactly as `deployctl plan` would:
the strategy `auto` picks is written out with the reason, and the alternatives are left in
comments. If the model does not fit unquantized, the least lossy quantization that fits
(q8_0, q6k, q5k, q4k) is written instead; if none fits, nothing is written.

Without --gpus, the manifest is written for this machine's GPUs (NVML); without an NVIDIA
driver it is written for no GPUs in particular, with `[devices.expect]` left to fill in.

Examples:
  deployctl init --model Qwen/Qwen2.5-7B-Instruct --gpus 4x24GiB
  deployctl init --model /models/Llama-3.1-70B-Instruct --gpus 8xH100 -o prod/deploy.toml
  deployctl init --model ./SmolLM2-135M-Instruct.Q4_1.gguf --gpus 24GiB -o -";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model: a local checkpoint directory, a `.gguf` file, or a hub id that the
    /// built-in catalog knows (`Qwen/Qwen2.5-7B-Instruct`).
    #[arg(long, value_name = "SOURCE")]
    pub model: Option<String>,

    /// The GPUs to write it for, in short: `4xA100-80GB`, `2x24GiB`, `H100-80GB,RTX4090`.
    /// Recorded in `[devices.expect]`, so CI plans without GPUs. Default: this machine's
    /// GPUs (NVML).
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,

    /// Tokens per sequence to plan for. Default: the model's context length.
    #[arg(long, value_name = "TOKENS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seq_len: Option<u64>,

    /// Where to write the manifest; `-` prints it to stdout.
    #[arg(short, long, value_name = "FILE", default_value = "deploy.toml")]
    pub output: PathBuf,

    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

pub(super) fn run(args: Args) -> Exit {
    match init(&args) {
        Ok(code) => code,
        Err(fail) => {
            eprint!("{}", fail.text);
            fail.code
        }
    }
}

/// Why nothing was written: the text for stderr, and the exit code.
#[derive(Debug)]
struct Fail {
    code: Exit,
    text: String,
}

impl Fail {
    fn usage(text: impl Into<String>) -> Self {
        Fail {
            code: Exit::Usage,
            text: text.into(),
        }
    }

    fn invalid(text: impl Into<String>) -> Self {
        Fail {
            code: Exit::Invalid,
            text: text.into(),
        }
    }
}

/// Where the GPUs come from.
enum Gpus {
    Spec(String, Inventory),
    Live(Inventory),
    Unknown,
}

impl Gpus {
    fn inventory(&self) -> Option<&Inventory> {
        match self {
            Gpus::Spec(_, i) | Gpus::Live(i) => Some(i),
            Gpus::Unknown => None,
        }
    }
}

fn init(args: &Args) -> Result<Exit, Fail> {
    let Some(model_text) = args.model.as_deref().map(str::trim) else {
        return Err(Fail::usage(format!(
            "error: name the model to deploy: `--model SOURCE`\n\
             help: a local checkpoint directory, a .gguf file, or a hub id the built-in catalog knows:\n{}",
            catalog_list()
        )));
    };
    let to_stdout = args.output.as_os_str() == "-";
    let dir = if to_stdout {
        PathBuf::from(".")
    } else {
        check_target(&args.output, args.force)?
    };

    let gpus = match &args.gpus {
        Some(spec) => match inventory::spec::parse(spec) {
            Ok(i) => Gpus::Spec(spec.clone(), i),
            Err(e) => return Err(Fail::usage(format!("error: --gpus `{spec}`: {e}\n"))),
        },
        None => match nvml::read() {
            Ok(i) => Gpus::Live(i),
            Err(nvml::Unavailable::NoDriver(_)) => Gpus::Unknown,
            Err(nvml::Unavailable::Failed(e)) => {
                return Err(Fail::invalid(format!(
                    "error: NVML failed: {e}\nhelp: describe the GPUs instead: `--gpus 4xA100-80GB`\n"
                )));
            }
        },
    };

    let cwd = std::env::current_dir()
        .map_err(|e| Fail::invalid(format!("error: no current directory: {}\n", io_reason(&e))))?;
    let source = classify_source(model_text, &cwd).ok_or_else(|| {
        Fail::usage(format!(
            "error: --model `{model_text}` is neither a local path nor a hub id (`owner/name`)\n{}",
            did_you_mean(model_text)
        ))
    })?;
    let resolved = resolve(model_text, &source)?;
    let dir_abs = normalize_path(&cwd.join(&dir));
    let source_text = written_source(model_text, &source, &resolved.origin, &dir_abs);

    let target = if to_stdout {
        dir.join("deploy.toml")
    } else {
        args.output.clone()
    };
    let mut drafts = Drafts::new(target, !to_stdout, &gpus)?;
    let mut draft = Draft::new(args, model_text, &source, source_text, &resolved, &gpus);
    drafts.resolved = Some(resolved);
    let text = draft_text(&mut drafts, &mut draft, &gpus)?;

    // What is written is exactly what was checked last.
    let mut checked = drafts.check(&text)?;
    if checked.errors().next().is_some() {
        return Err(internal(&checked.diagnostics));
    }
    if !to_stdout {
        checked = drafts.write(&text, &checked, args.force)?;
    }
    for d in checked.diagnostics.iter().filter(|d| !d.is_error()) {
        eprintln!("warning: {}", d.message);
    }
    let summary = format!(
        "{}{}",
        draft.title(),
        checked
            .plan()
            .map(|p| format!(": {}", layout_name(p)))
            .unwrap_or_default()
    );
    if gpus.inventory().is_none() {
        eprintln!(
            "note: no GPUs known (no --gpus, no NVIDIA driver), so nothing was planned; \
             fill in [devices.expect] or pass --gpus SPEC"
        );
    }
    if to_stdout {
        eprintln!("printed the manifest for {summary}");
        super::output::print(&text);
        return Ok(Exit::Ok);
    }
    let shown = display_path(&args.output);
    eprintln!("wrote {shown} for {summary}");
    eprintln!(
        "next: `deployctl validate {shown}` and `{}`",
        draft.plan_command
    );
    Ok(Exit::Ok)
}

/// The final text: planned with `auto`, quantized if it must be, then with the
/// strategy `auto` picked written out when that plans the same.
fn draft_text(drafts: &mut Drafts, draft: &mut Draft, gpus: &Gpus) -> Result<String, Fail> {
    let first = drafts.check(&render(draft))?;
    let Some(inventory) = gpus.inventory() else {
        if first.errors().next().is_some() {
            return Err(internal(&first.diagnostics));
        }
        return Ok(render(draft));
    };
    let mut fitting = first.fitting();
    // A GGUF file is quantized already; in-situ quantization does not apply.
    let ladder: &[Quantization] = if draft.gguf { &[] } else { &LADDER };
    for &q in ladder {
        if fitting.is_some() {
            break;
        }
        draft.quantization = q;
        fitting = drafts.check(&render(draft))?.fitting();
    }
    // Long-context models rarely fit their whole context: when the user named
    // none, plan the longest power-of-two context that fits, at the least
    // lossy precision.
    if fitting.is_none() && !draft.from_flag {
        let full = draft.max_seq_len;
        'contexts: for tokens in shorter_contexts(full) {
            draft.max_seq_len = tokens;
            for q in std::iter::once(Quantization::None).chain(ladder.iter().copied()) {
                draft.quantization = q;
                fitting = drafts.check(&render(draft))?.fitting();
                if fitting.is_some() {
                    eprintln!(
                        "note: the model's whole context ({full} tokens) does not fit; \
                         planned max_seq_len = {tokens}, the longest power of two that does"
                    );
                    break 'contexts;
                }
            }
        }
        if fitting.is_none() {
            draft.max_seq_len = full;
            draft.quantization = Quantization::None;
        }
    }
    let Some((plan, warnings)) = fitting else {
        let mut text = String::new();
        for d in first.errors() {
            let _ = writeln!(text, "error: {}", d.message);
            if let Some(help) = &d.help {
                let _ = writeln!(text, "  help: {help}");
            }
        }
        let _ = writeln!(
            text,
            "error: nothing written: {} does not fit on {}{}\nhelp: {}",
            draft.model_label,
            inventory.describe(),
            match (draft.gguf, draft.from_flag) {
                (true, true) => "",
                (true, false) => ", not even with a 2048-token context",
                (false, true) => ", not even with `quantization = \"q4k\"`",
                (false, false) =>
                    ", not even with `quantization = \"q4k\"` and a 2048-token context",
            },
            if draft.from_flag {
                "add GPUs, or plan a shorter context with `--max-seq-len TOKENS`"
            } else {
                "add GPUs, or larger ones"
            }
        );
        return Err(Fail::invalid(text));
    };
    draft.dtype = Some(plan.dtype);
    let pinned = draft.pinnable(&plan, inventory);
    draft.layout = Layout::Auto;
    draft.why = why_auto(&plan, pinned.is_some());
    let Some(pinned) = pinned else {
        return Ok(render(draft));
    };
    let candidate = Draft {
        layout: pinned,
        ..draft.clone()
    };
    let checked = drafts.check(&render(&candidate))?;
    let same = checked
        .fitting()
        .is_some_and(|(p, w)| same_layout(&p, &plan) && w <= warnings);
    if same {
        Ok(render(&candidate))
    } else {
        // Written out, it would plan differently: keep `auto`, which plans as explained.
        draft.why = why_auto(&plan, false);
        Ok(render(draft))
    }
}

/// Powers of two below `full`, longest first, down to 2048 tokens.
fn shorter_contexts(full: u64) -> impl Iterator<Item = u64> {
    (11..=20)
        .rev()
        .map(|p| 1u64 << p)
        .filter(move |&tokens| tokens < full)
}

/// Quantizations tried, least lossy first, when the model does not fit in its dtype.
const LADDER: [Quantization; 4] = [
    Quantization::Q8_0,
    Quantization::Q6K,
    Quantization::Q5K,
    Quantization::Q4K,
];

/// Checks `--output`: its directory exists, and it is not a directory nor an
/// existing file (unless `--force`). Returns the directory.
fn check_target(path: &Path, force: bool) -> Result<PathBuf, Fail> {
    let shown = display_path(path);
    if path.is_dir() {
        return Err(Fail::usage(format!(
            "error: `{shown}` is a directory; name the file: `-o {}`\n",
            display_path(&path.join("deploy.toml"))
        )));
    }
    if path.exists() && !force {
        return Err(Fail::usage(format!(
            "error: `{shown}` exists; pass --force to overwrite it\n"
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Fail::usage(format!(
            "error: cannot write `{shown}`: the directory `{}` does not exist\n",
            display_path(&dir)
        )));
    }
    Ok(dir)
}
