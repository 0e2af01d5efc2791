//! `deployctl init`: write a commented manifest for a model and the GPUs it
//! will run on. Each draft is loaded and planned exactly as `plan` would, so
//! the file that lands validates and plans as written, and says why the
//! planner chose what it chose.

mod template;

use template::render;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::exit::Exit;
use tempfile::NamedTempFile;

use crate::app::{App, HardwareSource, Need, Planned};
use crate::diagnostic::{Diagnostic, display_path, io_reason, suggest};
use crate::inventory::{self, Inventory, nvml};
use crate::manifest::size::ByteSize;
use crate::manifest::values::{DType, ModelKind, Quantization};
use crate::manifest::{
    ComputeCapability, Model, ModelSource, Overrides, classify_source, normalize_path,
};
use crate::model::{self, Modality, ResolveError, Resolved, ShapeOrigin, catalog};
use crate::plan::{Kind, Plan, Settings};

pub const AFTER_HELP: &str = "\
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

pub fn run(args: Args) -> Exit {
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

fn resolve(text: &str, source: &ModelSource) -> Result<Resolved, Fail> {
    let model = Model {
        source: source.clone(),
        config: None,
        kind: ModelKind::Auto,
        revision: None,
        tokenizer: None,
        chat_template: None,
    };
    model::resolve(&model, &|name| std::env::var(name).ok()).map_err(|e| match e {
        ResolveError::NotFound { tried } => {
            let mut out =
                format!("error: --model `{text}`: no source has the shape of this model\n");
            // `--model` has no `model.config` to set.
            for t in tried.iter().filter(|t| **t != model::Attempt::ConfigKey) {
                let _ = writeln!(out, "  - {t}");
            }
            out.push_str(&did_you_mean(text));
            let _ = write!(
                out,
                "help: give a checkpoint directory with its config.json, a .gguf file, or a hub id \
                 the built-in catalog knows:\n{}",
                catalog_list()
            );
            Fail::usage(out)
        }
        ResolveError::Invalid { origin, reason } => {
            Fail::usage(format!("error: --model `{text}`: {origin}: {reason}\n"))
        }
        ResolveError::Unsupported {
            architecture,
            origin,
        } => Fail::usage(format!(
            "error: --model `{text}` is a {architecture}, which {runtime} cannot load\n  \
             - read from {origin}\n\
             help: {}\n",
            model::architectures::unsupported_help(&architecture),
            runtime = crate::RUNTIME,
        )),
        ResolveError::NeedsHeaders {
            architecture,
            origin,
        } => Fail::usage(format!(
            "error: --model `{text}` is a {architecture}, which deployctl cannot lay out from a config alone\n  \
             - read from {origin}\n\
             help: {}\n",
            model::architectures::needs_headers_help(&architecture)
        )),
    })
}

/// Catalog ids deployctl can plan without weights: those with a config whose
/// architecture mistral.rs loads.
fn catalog_ids() -> Vec<String> {
    catalog::entries()
        .iter()
        .filter(|e| e.config.is_some())
        .filter(|e| {
            e.architecture
                .as_deref()
                .is_some_and(|a| model::architectures::find(a).is_some())
        })
        .map(|e| e.id.clone())
        .collect()
}

fn catalog_list() -> String {
    catalog_ids().iter().map(|id| format!("  {id}\n")).collect()
}

/// "help: did you mean …?" for a near miss of a catalog id, or nothing.
fn did_you_mean(text: &str) -> String {
    if catalog::lookup(text).is_some() {
        return String::new(); // listed, but without what planning needs
    }
    let ids = catalog_ids();
    let by_name = ids.iter().find(|id| {
        id.rsplit('/')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(text))
    });
    let near = by_name
        .map(String::as_str)
        .or_else(|| suggest::closest(text, ids.iter().map(String::as_str)));
    match near {
        Some(id) if !id.eq_ignore_ascii_case(text) => format!("help: did you mean `{id}`?\n"),
        _ => String::new(),
    }
}

/// `model.source` as the manifest writes it: a hub id as the catalog spells it;
/// a path as given when absolute, else relative to the manifest's directory
/// (relative paths in a manifest are resolved against the file).
fn written_source(text: &str, source: &ModelSource, origin: &ShapeOrigin, dir: &Path) -> String {
    match source {
        ModelSource::Hub { id } => match origin {
            ShapeOrigin::Catalog { id: canonical, .. } => canonical.clone(),
            _ => id.clone(),
        },
        ModelSource::LocalDirectory { path } | ModelSource::Gguf { path } => {
            if Path::new(text).is_absolute() || text.starts_with('~') {
                return text.to_owned();
            }
            let Some(relative) = pathdiff::diff_paths(path, dir) else {
                return path.to_string_lossy().into_owned();
            };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if relative.is_empty() {
                ".".to_owned()
            } else if relative.starts_with("../") || relative == ".." {
                relative
            } else {
                format!("./{relative}")
            }
        }
    }
}

/// Drafts checked in memory, as the file at `path` would load and plan: the
/// GPUs and the model are read once for all of them, by one [`App`].
struct Drafts {
    app: App,
    path: PathBuf,
    /// Where the final text is written, then renamed to `path`: made first,
    /// so an unwritable directory fails before any planning.
    file: Option<NamedTempFile>,
    need: Need,
    /// The model `init` resolved itself, recorded for the first draft's model
    /// section so it is not read again.
    resolved: Option<Resolved>,
}

/// One draft, loaded and planned.
struct Checked {
    planned: Option<Planned>,
    diagnostics: Vec<Diagnostic>,
}

impl Checked {
    fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| !d.is_error()).count()
    }

    fn plan(&self) -> Option<&Plan> {
        self.planned.as_ref().and_then(|p| p.outcome.plan.as_ref())
    }

    /// The plan and how many warnings came with it, when it fits.
    fn fitting(&self) -> Option<(Plan, usize)> {
        self.plan()
            .filter(|_| self.errors().next().is_none())
            .map(|p| (p.clone(), self.warnings()))
    }
}

impl Drafts {
    fn new(path: PathBuf, to_file: bool, gpus: &Gpus) -> Result<Self, Fail> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file = to_file
            .then(|| {
                tempfile::Builder::new()
                    .prefix(".deployctl-init-")
                    .suffix(".tmp")
                    .tempfile_in(&dir)
                    .map_err(|e| {
                        Fail::invalid(format!(
                            "error: cannot write in `{}`: {}\n",
                            display_path(&dir),
                            io_reason(&e)
                        ))
                    })
            })
            .transpose()?;
        let need = match gpus {
            Gpus::Unknown => Need::IfKnown,
            Gpus::Spec(..) | Gpus::Live(_) => Need::Required,
        };
        Ok(Drafts {
            app: App::new(
                HardwareSource::read_already(gpus.inventory().cloned()),
                Settings::default(),
            ),
            path,
            file,
            need,
            resolved: None,
        })
    }

    /// Loads and plans `text` as `plan` would plan it at `self.path`, without
    /// the environment's overrides: the file must plan on its own.
    fn check(&mut self, text: &str) -> Result<Checked, Fail> {
        let outcome = self
            .app
            .loader()
            .load_str(&self.path, text, &Overrides::default());
        self.planned(outcome)
    }

    fn planned(&mut self, outcome: crate::manifest::Outcome) -> Result<Checked, Fail> {
        let mut diagnostics = outcome.diagnostics;
        let (Some(loaded), Some(manifest)) = (outcome.loaded, outcome.manifest) else {
            return Err(internal(&diagnostics));
        };
        if let Some(resolved) = self.resolved.take() {
            self.app.models().remember(&manifest.model, resolved);
        }
        let planned = self
            .app
            .plan(&loaded, &manifest, self.need, &mut diagnostics);
        Ok(Checked {
            planned,
            diagnostics,
        })
    }

    /// Writes `text` beside the target, loads that file back as `validate`
    /// would, and renames it into place only when it plans as the draft did:
    /// readers see the old file or the new one, never half of one.
    fn write(&mut self, text: &str, planned: &Checked, force: bool) -> Result<Checked, Fail> {
        let path = self.path.clone();
        let shown = display_path(&path);
        let cannot = |e: &std::io::Error| {
            Fail::invalid(format!("error: cannot write `{shown}`: {}\n", io_reason(e)))
        };
        let Some(mut file) = self.file.take() else {
            return Err(Fail::invalid(
                "error: the manifest was written already; this is a bug in deployctl\n",
            ));
        };
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| cannot(&e))?;
        let outcome = self.app.loader().load(file.path(), &Overrides::default());
        let written = self.planned(outcome)?;
        let as_json = |c: &Checked| c.plan().map(|p| serde_json::to_value(p).ok());
        if as_json(&written) != as_json(planned)
            || written.errors().count() != planned.errors().count()
        {
            return Err(internal(&written.diagnostics));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // A manifest is not a secret: the usual mode, not the temporary file's 0600.
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0o644);
            let _ = std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode));
        }
        let result = if force {
            file.persist(&path)
        } else {
            file.persist_noclobber(&path)
        };
        result.map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Fail::usage(format!(
                    "error: `{shown}` exists; pass --force to overwrite it\n"
                ))
            } else {
                cannot(&e.error)
            }
        })?;
        Ok(written)
    }
}

/// A draft that does not load is a bug here, not the user's.
fn internal(diagnostics: &[Diagnostic]) -> Fail {
    let mut text = String::from(
        "error: the manifest drafted for this model does not validate; this is a bug in deployctl\n",
    );
    for d in diagnostics.iter().filter(|d| d.is_error()) {
        let _ = writeln!(text, "  - {}", d.message);
    }
    Fail::invalid(text)
}

/// Whether two plans put the same layers on the same GPUs.
fn same_layout(a: &Plan, b: &Plan) -> bool {
    a.strategy == b.strategy
        && a.cpu.as_ref().map(|c| &c.layers) == b.cpu.as_ref().map(|c| &c.layers)
        && a.devices.len() == b.devices.len()
        && a.devices
            .iter()
            .zip(&b.devices)
            .all(|(x, y)| x.index == y.index && x.layers == y.layers)
}

/// `tensor parallel ×4 over GPU 0, 1, 2, 3`.
fn layout_name(plan: &Plan) -> String {
    let gpus = plan
        .devices
        .iter()
        .map(|d| d.index.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match plan.strategy {
        Kind::Single => format!("one GPU (GPU {gpus})"),
        Kind::Tensor { size } => format!("tensor parallel ×{size} over GPU {gpus}"),
        Kind::Pipeline => format!("a pipeline over GPU {gpus}"),
        Kind::Manual => format!("a layer map over GPU {gpus}"),
        Kind::Cpu => "the CPU".to_owned(),
    }
}

/// What `[devices.expect]` records: one count and one size, so mixed GPUs are
/// recorded by the smallest.
#[derive(Debug, Clone, PartialEq)]
struct Expect {
    count: usize,
    memory: ByteSize,
    min_compute_capability: Option<ComputeCapability>,
    mixed: bool,
}

fn expect_of(inventory: &Inventory) -> Option<Expect> {
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
fn size_text(size: ByteSize) -> String {
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
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// How the model is spread over the GPUs, as the manifest writes it.
#[derive(Debug, Clone, PartialEq)]
enum Layout {
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
struct Draft {
    command: String,
    output: String,
    model_label: String,
    hardware_label: Option<String>,
    /// The command that plans this file: `deployctl plan FILE`, with the GPUs
    /// where `[devices.expect]` cannot say them.
    plan_command: String,
    name: String,
    source: String,
    source_note: String,
    hub: bool,
    /// A GGUF file holds its weights quantized already.
    gguf: bool,
    architecture: String,
    modality: Modality,
    /// What `dtype = "auto"` resolved to, once planned.
    dtype: Option<DType>,
    quantization: Quantization,
    max_seq_len: u64,
    context: u64,
    from_flag: bool,
    expect: Option<Expect>,
    layout: Layout,
    /// Why `auto` picks what it picks, above `[parallelism]`; kept when that
    /// layout is written out.
    why: Vec<String>,
}

impl Draft {
    fn new(
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

    fn title(&self) -> String {
        match &self.hardware_label {
            Some(hw) => format!("{} on {hw}", self.model_label),
            None => format!("{} (no GPUs known)", self.model_label),
        }
    }

    /// The strategy `auto` picked, written out, where the manifest can say it:
    /// tensor parallelism and pipelines. One GPU stays `auto`.
    fn pinnable(&self, plan: &Plan, inventory: &Inventory) -> Option<Layout> {
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
fn deployment_name(label: &str, source: &ModelSource) -> String {
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
fn shell_word(word: &str) -> String {
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
fn why_auto(plan: &Plan, pinned: bool) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::template::{block, key, off, wrap};

    #[test]
    fn shorter_contexts_are_powers_of_two_below_the_model_s() {
        let got: Vec<u64> = shorter_contexts(40_960).collect();
        assert_eq!(got, [32768, 16384, 8192, 4096, 2048]);
        assert_eq!(shorter_contexts(2048).count(), 0);
    }
    use super::*;
    use crate::manifest::wire::RawManifest;

    fn sample(layout: Layout) -> Draft {
        Draft {
            command: "deployctl init --model Qwen/Qwen2.5-7B-Instruct --gpus 4x24GiB".into(),
            output: "deploy.toml".into(),
            model_label: "Qwen/Qwen2.5-7B-Instruct".into(),
            hardware_label: Some("4 × 24 GiB".into()),
            plan_command: "deployctl plan deploy.toml".into(),
            name: "qwen2.5-7b-instruct".into(),
            source: "Qwen/Qwen2.5-7B-Instruct".into(),
            source_note: "hub id; its shape comes from the built-in catalog".into(),
            hub: true,
            gguf: false,
            architecture: "Qwen2ForCausalLM".into(),
            modality: Modality::Text,
            dtype: Some(DType::Bf16),
            quantization: Quantization::None,
            max_seq_len: 32768,
            context: 32768,
            from_flag: false,
            expect: Some(Expect {
                count: 4,
                memory: ByteSize::gib(24),
                min_compute_capability: None,
                mixed: false,
            }),
            layout,
            why: vec![
                "auto picks tensor parallel ×4 (GPU 0, GPU 1, GPU 2, GPU 3): of the layouts that fit, it leaves the most memory free on its tightest GPU (13.64 GiB).".to_owned(),
                "The others:".to_owned(),
                "  single GPU (GPU 0): fits with less headroom on its tightest GPU (641.78 MiB vs 13.64 GiB)".to_owned(),
            ],
        }
    }

    fn layouts() -> Vec<Layout> {
        vec![
            Layout::Undecided,
            Layout::Auto,
            Layout::Tensor {
                size: 2,
                gpus: Some(vec![0, 1]),
            },
            Layout::Pipeline {
                gpus: None,
                layers: vec![7, 7, 7, 7],
            },
        ]
    }

    #[test]
    fn every_layout_renders_a_manifest_of_known_keys() {
        for layout in layouts() {
            let text = render(&sample(layout.clone()));
            let raw: RawManifest = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let strategy = raw.parallelism.unwrap().strategy.unwrap();
            let expected = match layout {
                Layout::Undecided | Layout::Auto => "auto",
                Layout::Tensor { .. } => "tensor",
                Layout::Pipeline { .. } => "pipeline",
            };
            assert_eq!(strategy.as_str(), expected);
            assert_eq!(raw.devices.unwrap().expect.unwrap().count, Some(4));
        }
    }

    #[test]
    fn every_key_has_a_comment_and_lines_stay_narrow() {
        for layout in layouts() {
            let text = render(&sample(layout));
            for line in text.lines() {
                assert!(line.chars().count() <= 100, "too wide: {line}");
                let is_key = !line.is_empty() && !line.starts_with('#') && !line.starts_with('[');
                assert!(!is_key || line.contains("  # "), "no comment: {line}");
            }
        }
    }

    #[test]
    fn a_quantized_draft_keeps_the_unquantized_line_as_an_alternative() {
        let mut d = sample(Layout::Auto);
        d.quantization = Quantization::Q8_0;
        let text = render(&d);
        assert!(text.contains("\nquantization = \"q8_0\""), "{text}");
        assert!(text.contains("\n# quantization = \"none\""), "{text}");
    }

    #[test]
    fn mixed_gpus_leave_memory_out_of_the_expectation() {
        let mut d = sample(Layout::Auto);
        d.expect = Some(Expect {
            count: 2,
            memory: ByteSize::gib(24),
            min_compute_capability: None,
            mixed: true,
        });
        let raw: RawManifest = toml::from_str(&render(&d)).unwrap();
        let expect = raw.devices.unwrap().expect.unwrap();
        assert_eq!(expect.count, Some(2));
        assert_eq!(expect.memory, None);
    }

    #[test]
    fn a_multimodal_model_gets_its_image_limits() {
        let mut d = sample(Layout::Undecided);
        d.modality = Modality::Multimodal;
        let raw: RawManifest = toml::from_str(&render(&d)).unwrap();
        let workload = raw.workload.unwrap();
        assert_eq!(workload.max_images, Some(1));
        assert_eq!(workload.max_image_size, Some([1024, 1024]));
    }

    #[test]
    fn comments_align_in_a_column_unless_the_key_is_long() {
        let mut out = String::new();
        block(
            &mut out,
            &[
                key("a = 1", "one"),
                off("bb = 2", "two"),
                key(format!("c = \"{}\"", "x".repeat(40)), "long"),
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "a = 1     # one");
        assert_eq!(lines[1], "# bb = 2  # two");
        assert!(lines[2].ends_with("\"  # long"));
    }

    #[test]
    fn wraps_at_spaces_and_hangs_list_items() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("  item one two", 10), ["  item one", "    two"]);
        assert!(wrap("", 10).is_empty());
    }

    #[test]
    fn sizes_are_written_in_the_largest_whole_unit() {
        assert_eq!(size_text(ByteSize::gib(80)), "80GiB");
        assert_eq!(size_text(ByteSize::mib(81_559)), "81559MiB");
        assert_eq!(size_text(ByteSize(16_000_000_000)), "16GB");
        assert_eq!(size_text(ByteSize(1234)), "1234B");
        // Each reads back as the same size.
        for text in ["80GiB", "81559MiB", "16GB", "1234B"] {
            let size = crate::manifest::size::parse_size(text).unwrap();
            assert_eq!(size_text(size), text);
        }
    }

    #[test]
    fn names_come_from_the_model() {
        let hub = ModelSource::Hub { id: "x/y".into() };
        let gguf = ModelSource::Gguf {
            path: "/m.gguf".into(),
        };
        let dir = ModelSource::LocalDirectory { path: "/m".into() };
        assert_eq!(
            deployment_name("Qwen/Qwen2.5-7B-Instruct", &hub),
            "qwen2.5-7b-instruct"
        );
        assert_eq!(
            deployment_name("SmolLM2-135M-Instruct.Q4_1.gguf", &gguf),
            "smollm2-135m-instruct.q4_1"
        );
        assert_eq!(deployment_name("My Model (v2)", &dir), "my-model-v2");
        assert_eq!(deployment_name("++", &dir), "deployment");
    }

    #[test]
    fn local_sources_are_written_relative_to_the_manifest() {
        let origin = ShapeOrigin::Gguf { path: "/x".into() };
        let gguf = |p: &str| ModelSource::Gguf { path: p.into() };
        let dir = Path::new("/repo/prod");
        assert_eq!(
            written_source("models/m.gguf", &gguf("/repo/models/m.gguf"), &origin, dir),
            "../models/m.gguf"
        );
        assert_eq!(
            written_source("prod/m.gguf", &gguf("/repo/prod/m.gguf"), &origin, dir),
            "./m.gguf"
        );
        assert_eq!(
            written_source("/srv/m.gguf", &gguf("/srv/m.gguf"), &origin, dir),
            "/srv/m.gguf"
        );
        let catalog = ShapeOrigin::Catalog {
            id: "Qwen/Qwen2.5-7B-Instruct".into(),
            address: String::new(),
        };
        let hub = ModelSource::Hub {
            id: "qwen/qwen2.5-7b-instruct".into(),
        };
        assert_eq!(
            written_source("qwen/qwen2.5-7b-instruct", &hub, &catalog, dir),
            "Qwen/Qwen2.5-7B-Instruct"
        );
    }

    #[test]
    fn the_expectation_records_the_smallest_gpu_and_says_when_they_differ() {
        let same = inventory::spec::parse("2xA100-80GB").unwrap();
        let e = expect_of(&same).unwrap();
        assert_eq!((e.count, e.mixed), (2, false));
        assert_eq!(e.min_compute_capability.unwrap().to_string(), "8.0");
        let mixed = inventory::spec::parse("A100-80GB,24GiB").unwrap();
        let e = expect_of(&mixed).unwrap();
        assert_eq!((e.memory, e.mixed), (ByteSize::gib(24), true));
        assert_eq!(e.min_compute_capability, None, "the 24GiB GPU's is unknown");
        assert_eq!(
            mixed.describe(),
            "1 × NVIDIA A100-SXM4-80GB (80 GiB) + 1 × 24 GiB"
        );
    }

    #[test]
    fn near_misses_of_catalog_ids_are_suggested() {
        assert!(did_you_mean("qwen2.5-7b-instruct").contains("`Qwen/Qwen2.5-7B-Instruct`"));
        assert!(did_you_mean("Qwen/Qwen2.5-7B-Instrct").contains("`Qwen/Qwen2.5-7B-Instruct`"));
        assert_eq!(did_you_mean("nobody/nothing"), "");
        assert_eq!(
            did_you_mean("Qwen/Qwen2-VL-7B-Instruct"),
            "",
            "listed without a config"
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_they_must_be() {
        assert_eq!(shell_word("H100-80GB,RTX4090"), "H100-80GB,RTX4090");
        assert_eq!(shell_word("my model"), "'my model'");
    }
}
