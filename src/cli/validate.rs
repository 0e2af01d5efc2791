//! `deployctl validate [PATH...]`: check manifests, for people and for CI.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Serialize;

use super::Format;
use super::exit::Exit;
use super::hardware::Hardware;
use super::output::outln;
use super::output::{count, eprint_human};
use crate::app::discover;
use crate::app::{App, LiveGpus, tree};
use crate::diagnostic::{display_path, render};
use crate::manifest::Overrides;

pub(super) const AFTER_HELP: &str = "\
Each manifest whose model shape is known (a local checkpoint, `model.config`, the Hugging Face
cache or the built-in catalog) and whose hardware is known is also planned, so a budget that
cannot fit fails here. The hardware is, first found: `--inventory`, `--gpus`, this machine's GPUs
only with `--live`, the inventory of the host `[devices.expect] host` names (`hosts/HOST.toml` in
the manifest's directory or one above), then `[devices.expect]`. Without `--live` the runner's own
GPUs, and other jobs on them, never decide the result. Deployments that name one host are planned
together: on each GPU they share, their plans must fit its memory.

Paths may be files or directories. A directory is searched recursively for *.toml files whose
top-level table has a `version =` key; hidden entries and what .gitignore excludes are skipped.
A file found that way which another found manifest lists in `extends` is checked as part of that
manifest, not alone, so partial base files need not be complete.

Exit codes: 0 every manifest is valid and fits (warnings allowed); 1 a manifest is invalid (or
has warnings, with --deny-warnings); 2 usage error; 3 every manifest is valid, but a plan does
not fit its hardware. `deployctl --help` lists every code.";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files, or directories to search. Default: the current directory.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    pub deny_warnings: bool,

    /// Override a key: `--set server.port=9000`. Applies to every manifest; repeatable.
    #[arg(long = "set", value_name = "TABLE.KEY=VALUE")]
    pub sets: Vec<String>,

    /// Also plan every manifest against this hardware (else against its
    /// `[devices.expect]`, when it has one).
    #[command(flatten)]
    pub hardware: Hardware,

    /// Plan against this machine's GPUs (NVML) when neither `--inventory` nor
    /// `--gpus` is given, and check them as `apply` would (other processes'
    /// memory included).
    #[arg(long, conflicts_with_all = ["inventory", "gpus"])]
    pub live: bool,
}

/// The JSON output of `validate --format json`. Stable: fields are only ever added.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Report {
    /// Version of this document's format.
    pub format_version: u32,
    /// Each manifest checked, in path order.
    pub manifests: Vec<ManifestReport>,
    /// Every problem found, in file and line order.
    pub diagnostics: Vec<render::JsonDiagnostic>,
    pub summary: Summary,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct ManifestReport {
    pub path: String,
    /// The deployment name, when the manifest is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub valid: bool,
    pub errors: usize,
    pub warnings: usize,
    /// The `extends` files merged underneath it, lowest first.
    pub extends: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Summary {
    pub manifests: usize,
    pub valid: usize,
    pub invalid: usize,
    pub errors: usize,
    pub warnings: usize,
}

pub(super) fn run(args: Args, color: bool) -> Exit {
    let live = if args.live {
        LiveGpus::Read
    } else {
        LiveGpus::Skip
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let candidates = match discover::manifests(&paths) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {}", e.0);
            return Exit::Usage;
        }
    };
    let app = App::new(args.hardware.source(live), crate::plan::Settings::default());
    let overrides = Overrides::from_process(args.sets.clone());
    let checked = tree::check(&app, &candidates, &overrides, |manifest, _| {
        manifest.name.clone()
    });

    let diagnostics = tree::distinct_diagnostics(&checked);
    let mut manifests = Vec::new();
    for outcome in &checked {
        let path = &outcome.path;
        let errors = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = outcome.diagnostics.len() - errors;
        manifests.push(ManifestReport {
            path: display_path(path),
            name: outcome.kept.clone().filter(|_| errors == 0),
            valid: errors == 0,
            errors,
            warnings,
            extends: outcome
                .files
                .iter()
                .rev()
                .skip(1)
                .rev()
                .map(|f| display_path(f))
                .collect(),
        });
    }

    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let valid = manifests.iter().filter(|m| m.valid).count();
    let summary = Summary {
        manifests: manifests.len(),
        valid,
        invalid: manifests.len() - valid,
        errors,
        warnings,
    };

    match args.format {
        Format::Human => {
            eprint_human(&diagnostics, color);
            for m in &manifests {
                let status = if m.valid { "valid" } else { "invalid" };
                let detail = match (&m.name, m.errors, m.warnings) {
                    (Some(name), _, 0) => name.clone(),
                    (Some(name), _, w) => format!("{name}, {}", count(w, "warning")),
                    (None, e, 0) => count(e, "error"),
                    (None, e, w) => format!("{}, {}", count(e, "error"), count(w, "warning")),
                };
                eprintln!("{status:>7}  {}  ({detail})", m.path);
            }
            eprintln!(
                "{} checked: {} valid, {} invalid; {}, {}",
                count(summary.manifests, "manifest"),
                summary.valid,
                summary.invalid,
                count(errors, "error"),
                count(warnings, "warning"),
            );
        }
        Format::Json => {
            let report = Report {
                format_version: 1,
                manifests,
                diagnostics: diagnostics
                    .iter()
                    .map(render::JsonDiagnostic::from)
                    .collect(),
                summary,
            };
            outln!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serializable")
            );
        }
        Format::Github => {
            for d in &diagnostics {
                outln!("{}", render::github(d));
            }
        }
    }
    super::exit::of(&diagnostics, args.deny_warnings)
}

/// The JSON Schema of [`Report`], committed as `schemas/validate-output.schema.json`.
pub(super) fn report_schema_text() -> String {
    super::output_schema::text::<Report>()
}
