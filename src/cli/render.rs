//! `deployctl render MANIFEST --target …`: the launch a manifest compiles to, for
//! users who run the stock `mistralrs` binary themselves.

use std::path::PathBuf;

use clap::ValueEnum;

use super::exit::Exit;
use super::hardware::Hardware;
use super::output::eprint_human;
use super::output::{out, outln};
use crate::app::{App, LiveGpus, Session};
use crate::diagnostic;
use crate::launch;
use crate::manifest::Overrides;
use crate::plan::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The manifest to render.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,

    /// What to print.
    #[arg(long, value_enum, default_value_t = Target::MistralrsCli)]
    pub target: Target,

    #[command(flatten)]
    pub hardware: Hardware,

    /// Override a key: `--set server.port=9000`. Repeatable.
    #[arg(long = "set", value_name = "TABLE.KEY=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// `ENV=… mistralrs serve …`, shell-quoted.
    MistralrsCli,
    /// The `mistralrs from-config` TOML file, with its environment as a comment.
    MistralrsToml,
    /// The topology YAML of a manual map with per-range quantization.
    Topology,
    /// The launch description, as JSON: what `apply` builds in-process.
    Description,
}

pub fn run(args: Args, color: bool) -> Exit {
    if !args.manifest.is_file() {
        eprintln!("error: `{}` is not a file", args.manifest.display());
        return Exit::Usage;
    }
    let mut diagnostics = Vec::new();
    let app = App::new(args.hardware.source(LiveGpus::Read), Settings::default());
    let overrides = Overrides::from_process(args.sets);
    let Some(Session { manifest, planned }) =
        app.session(&args.manifest, &overrides, &mut diagnostics)
    else {
        eprint_human(&diagnostics, color);
        return Exit::Invalid;
    };
    eprint_human(&diagnostics, color);
    let Some(description) = planned.as_ref().and_then(|p| p.compile(&manifest)) else {
        return super::exit::of(&diagnostics, false).worst(Exit::DoesNotFit);
    };
    if diagnostics.iter().any(diagnostic::Diagnostic::is_error) {
        return super::exit::of(&diagnostics, false);
    }
    let rendered = launch::render(&description);
    if matches!(args.target, Target::MistralrsCli | Target::MistralrsToml) {
        if let Some(warning) = unauthenticated(&manifest) {
            eprintln!("{warning}");
        }
    }
    match args.target {
        Target::MistralrsCli => outln!("{}", rendered.command_line()),
        Target::MistralrsToml => out!("{}", launch::config_file::render(&description)),
        Target::Topology => match &rendered.topology {
            Some(t) => out!("{t}"),
            None => {
                eprintln!(
                    "error: this plan needs no topology: it has no per-range quantization; use `--target mistralrs-cli`"
                );
                return Exit::Invalid;
            }
        },
        Target::Description => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&description).expect("serializable")
            );
        }
    }
    Exit::Ok
}

/// Said on stderr when the manifest has an API key that a stock `mistralrs`
/// launch cannot carry: that server would answer anyone.
pub fn unauthenticated(manifest: &crate::manifest::Manifest) -> Option<&'static str> {
    manifest.server.api_key.is_some().then_some(
        "warning: this launch serves without authentication: the stock `mistralrs` binary takes no \
         API key, so `server.api_key` is not in it. Put it behind a proxy that checks \
         `Authorization`, or run `deployctl apply`, which does.",
    )
}
