//! `deployctl plan MANIFEST`: where every layer and every byte goes, and the
//! launch it compiles to.

mod machine;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use super::Format;
use super::exit::Exit;
use super::hardware::Hardware;
use super::output::eprint_human;
use super::output::{out, outln};
use super::plan_table;
use crate::app::{App, LiveGpus, Session};
use crate::diagnostic::{self, render};
use crate::launch;
use crate::manifest::Overrides;
use crate::plan::Settings;
use crate::units::{ByteSize, parse_size};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest to plan; with `--machine`, every manifest (or directory of them)
    /// to plan together on that machine.
    #[arg(value_name = "MANIFEST", required = true, num_args = 1..)]
    pub manifests: Vec<PathBuf>,

    /// Plan every manifest given on this machine (a recorded inventory) together:
    /// each on its own, then per GPU their totals against its memory.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["inventory", "gpus"])]
    pub machine: Option<PathBuf>,

    #[command(flatten)]
    pub hardware: Hardware,

    /// Output format (`github` prints only the diagnostics, as annotations).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Print how each memory term is computed.
    #[arg(long)]
    pub explain: bool,

    /// Per-GPU overhead for the CUDA context and library workspaces.
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_overhead)]
    pub overhead: ByteSize,

    /// Plan for a build with flash attention (no attention-score buffers).
    #[arg(long)]
    pub flash_attention: bool,

    /// Override a key: `--set server.port=9000`. Repeatable.
    #[arg(long = "set", value_name = "TABLE.KEY=VALUE")]
    pub sets: Vec<String>,
}

fn parse_overhead(text: &str) -> Result<ByteSize, String> {
    parse_size(text).map_err(|e| format!("`{text}` {e}"))
}

/// The model a plan was made for.
#[derive(Serialize, JsonSchema)]
struct ModelReport {
    /// As mistral.rs names it (`Qwen2ForCausalLM`).
    architecture: String,
    /// Where the shape came from: the checkpoint, a config, the catalog.
    source: String,
    /// Decoder layers.
    layers: u64,
    /// The weights were read from the checkpoint's own tensor headers.
    exact_tensors: bool,
}

/// The JSON output of `plan --format json`.
#[derive(Serialize, JsonSchema)]
pub struct Report {
    /// Version of this document's format.
    format_version: u32,
    /// The manifest's `name`.
    deployment: String,
    /// The model's architecture, layer count, and where its shape came from;
    /// null when the model could not be read.
    model: Option<ModelReport>,
    /// Where the GPUs came from.
    hardware: String,
    plan: Option<crate::plan::Plan>,
    /// The `mistralrs serve` command line, environment and topology.
    launch: Option<launch::Launch>,
    /// The launch description both `apply` and the command line are made from.
    description: Option<launch::Description>,
    /// No error: the plan fits within every limit.
    fits: bool,
    diagnostics: Vec<render::JsonDiagnostic>,
}

/// The JSON Schema of [`Report`], committed as `schemas/plan-output.schema.json`.
pub fn report_schema_text() -> String {
    super::output_schema::text::<Report>()
}

pub fn run(args: Args, color: bool) -> Exit {
    if let Some(machine) = args.machine.clone() {
        return machine::run(&args, &machine, color);
    }
    let [manifest] = args.manifests.as_slice() else {
        eprintln!(
            "error: {} manifests given; plan one, or plan several together on one machine with `--machine FILE`",
            args.manifests.len()
        );
        return Exit::Usage;
    };
    if !manifest.is_file() {
        eprintln!("error: {}", crate::files::not_a_file(manifest));
        return Exit::Usage;
    }
    let settings = Settings {
        overhead: args.overhead,
        flash_attention: args.flash_attention,
        capacity: true,
        ..Settings::default()
    };
    let mut diagnostics = Vec::new();
    let app = App::new(args.hardware.source(LiveGpus::Read), settings);
    let overrides = Overrides::from_process(args.sets);
    let Some(Session {
        manifest, planned, ..
    }) = app.session(manifest, &overrides, &mut diagnostics)
    else {
        print_diagnostics(&diagnostics, args.format, color);
        return Exit::Invalid;
    };
    let errors = diagnostics.iter().any(diagnostic::Diagnostic::is_error);
    let description = planned.as_ref().and_then(|p| p.compile(&manifest));
    let launch = description.as_ref().map(launch::command_line);
    match args.format {
        Format::Json => {
            let report = Report {
                format_version: 1,
                deployment: manifest.name.clone(),
                model: planned.as_ref().map(|p| ModelReport {
                    architecture: p.model.shape.architecture.clone(),
                    source: p.model.origin.to_string(),
                    layers: p.model.shape.text.layers,
                    exact_tensors: p.model.shape.exact_tensors,
                }),
                hardware: planned
                    .as_ref()
                    .map(|p| p.inventory.source.to_string())
                    .unwrap_or_default(),
                plan: planned.as_ref().and_then(|p| p.outcome.plan.clone()),
                launch: launch.clone(),
                description,
                fits: !errors,
                diagnostics: diagnostics
                    .iter()
                    .map(render::JsonDiagnostic::from)
                    .collect(),
            };
            outln!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serializable")
            );
        }
        Format::Github => print_diagnostics(&diagnostics, Format::Github, color),
        Format::Human => {
            eprint_human(&diagnostics, color);
            if let (Some(p), Some(plan), Some(launch)) = (
                &planned,
                planned.as_ref().and_then(|p| p.outcome.plan.as_ref()),
                &launch,
            ) {
                let header = vec![
                    ("deployment".to_owned(), manifest.name.clone()),
                    (
                        "model".to_owned(),
                        format!(
                            "{} ({} layers)",
                            p.model.shape.architecture, p.model.shape.text.layers
                        ),
                    ),
                    ("shape from".to_owned(), p.model.origin.to_string()),
                    ("hardware".to_owned(), p.inventory.source.to_string()),
                    (
                        "precision".to_owned(),
                        format!(
                            "{}, quantization {}, KV cache {}",
                            plan.dtype.name(),
                            plan.quantization.name(),
                            match plan.kv_cache {
                                crate::units::KvCacheDtype::F8e4m3 => "f8e4m3",
                                crate::units::KvCacheDtype::Auto => plan.dtype.name(),
                            },
                        ),
                    ),
                    (
                        "workload".to_owned(),
                        if plan.max_images > 0 {
                            format!(
                                "{} tokens × {} sequences, {} image(s) up to {}×{}",
                                plan.max_seq_len,
                                plan.max_batch_size,
                                plan.max_images,
                                plan.image_size[0],
                                plan.image_size[1]
                            )
                        } else {
                            format!(
                                "{} tokens × {} sequences",
                                plan.max_seq_len, plan.max_batch_size
                            )
                        },
                    ),
                    ("weights".to_owned(), plan_table::gib(plan.weights_total)),
                ];
                out!("{}", plan_table::human(plan, &header, launch, args.explain));
                if errors {
                    eprintln!("\nerror: the plan does not fit; see the diagnostics above");
                }
            }
        }
    }
    super::exit::of(&diagnostics, false)
}

fn print_diagnostics(diagnostics: &[diagnostic::Diagnostic], format: Format, color: bool) {
    match format {
        Format::Github => {
            for d in diagnostics {
                outln!("{}", render::github(d));
            }
        }
        Format::Json => {
            let list: Vec<_> = diagnostics
                .iter()
                .map(render::JsonDiagnostic::from)
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "diagnostics": list }))
                    .expect("serializable")
            );
        }
        Format::Human => eprint_human(diagnostics, color),
    }
}
