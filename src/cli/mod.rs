//! The command line: argument parsing, and one module per command.

mod apply;
mod completions;
mod config;
mod diff;
pub mod exit;
mod gpus;
mod hardware;
mod init;
mod man;
#[cfg(feature = "serve")]
mod measured;
mod output;
mod output_schema;
pub mod plan;
mod plan_table;
mod render;
pub mod schema;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use gpus::record as record_inventory;
pub use output::Color;

/// Plan, validate and launch multi-GPU deployments of language and vision-language models.
#[derive(Debug, Parser)]
#[command(name = "deployctl", version, about, after_long_help = exit::HELP)]
pub struct Cli {
    /// When to use colour in diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests: syntax, keys, values and every cross-field rule.
    #[command(after_long_help = validate::AFTER_HELP)]
    Validate(validate::Args),
    /// Print the resolved manifest, after `extends`, environment and `--set`.
    Config(config::Args),
    /// Compare the plans of manifests at a Git revision with the work tree, for review.
    #[command(after_long_help = diff::AFTER_HELP)]
    Diff(diff::Args),
    /// Plan where every layer and byte goes, and print the launch it compiles to.
    Plan(plan::Args),
    /// Show this machine's GPUs (NVML), or a recorded inventory; record one.
    Gpus(gpus::Args),
    /// Validate, plan, run the preflight, load the model with mistral.rs and serve it.
    Apply(apply::Args),
    /// Print the mistral.rs launch a manifest compiles to (command line, topology, description).
    Render(render::Args),
    /// Print a JSON Schema: the manifest's (for editors), or that of `validate --format json`.
    Schema(schema::Args),
    /// Write a commented manifest for a model and its GPUs, planned before it is written.
    #[command(after_long_help = init::AFTER_HELP)]
    Init(init::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_long_help = completions::AFTER_HELP)]
    Completions(completions::Args),
    /// Print the manual page (roff), with every command.
    #[command(after_long_help = man::AFTER_HELP)]
    Man(man::Args),
}

/// Output formats for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics for people, with the offending line.
    Human,
    /// One JSON document (see docs/validate-json.md).
    Json,
    /// GitHub Actions workflow commands that annotate the pull request.
    Github,
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let color = cli.color.enabled();
    let code = match cli.command {
        Command::Validate(args) => validate::run(args, color),
        Command::Config(args) => config::run(args, color),
        Command::Diff(args) => diff::run(args),
        Command::Plan(args) => plan::run(args, color),
        Command::Gpus(args) => gpus::run(args),
        Command::Apply(args) => apply::run(args, color),
        Command::Render(args) => render::run(args, color),
        Command::Schema(args) => schema::run(args),
        Command::Init(args) => init::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    };
    ExitCode::from(code)
}
