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

/// The draft-07 JSON Schema of an output document, pretty-printed with a
/// trailing newline, as committed under `schemas/`.
pub fn output_schema_text<T: schemars::JsonSchema>() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut text = serde_json::to_string_pretty(&schema).expect("serializable");
    text.push('\n');
    text
}
