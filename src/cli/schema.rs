//! `deployctl schema`: JSON Schemas for editors and for tools that read our output.

use clap::ValueEnum;

use super::exit::Exit;
use super::output::out;
use crate::manifest::schema::manifest_schema_text;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which schema to print.
    #[arg(value_enum, default_value_t = Which::Manifest)]
    pub which: Which,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// The deployment manifest (`schemas/deploy.schema.json`).
    Manifest,
    /// The output of `validate --format json` (`schemas/validate-output.schema.json`).
    ValidateOutput,
    /// The output of `plan --format json` (`schemas/plan-output.schema.json`).
    PlanOutput,
    /// The output of `diff --format json` (`schemas/diff-output.schema.json`).
    DiffOutput,
}

impl Which {
    /// The committed file and its generated text.
    pub fn committed(self) -> (&'static str, String) {
        match self {
            Which::Manifest => ("schemas/deploy.schema.json", manifest_schema_text()),
            Which::ValidateOutput => (
                "schemas/validate-output.schema.json",
                super::validate::report_schema_text(),
            ),
            Which::PlanOutput => (
                "schemas/plan-output.schema.json",
                super::plan::report_schema_text(),
            ),
            Which::DiffOutput => (
                "schemas/diff-output.schema.json",
                super::diff::report_schema_text(),
            ),
        }
    }
}

pub fn run(args: Args) -> Exit {
    out!("{}", args.which.committed().1);
    Exit::Ok
}
