//! What the planner and the resolver found, as diagnostics on manifest keys.

use crate::diagnostic::{Code, Diagnostic, Place, Severity};
use crate::manifest::{Loaded, ModelSource};
use crate::model::{self, ResolveError};
use crate::plan::Finding;

pub(super) fn to_diagnostic(f: &Finding, loaded: &Loaded) -> Diagnostic {
    let place = match &f.key {
        Some(key) => loaded.provenance.value_place(key),
        None => loaded.provenance.top().place(0..0),
    };
    let mut d = match f.severity {
        Severity::Error => Diagnostic::error(f.code, place, f.message.clone()),
        Severity::Warning => Diagnostic::warning(f.code, place, f.message.clone()),
    };
    d.help = f.help.clone();
    d
}

pub(super) fn resolve_error(e: ResolveError, source: &ModelSource, place: Place) -> Diagnostic {
    match e {
        ResolveError::NotFound { tried } => Diagnostic::error(
            Code::ModelNotFound,
            place,
            format!(
                "no source has the shape of this model; tried:{}",
                tried.iter().map(|t| format!("\n  - {t}")).collect::<String>()
            ),
        )
        .label("shape unknown")
        .help(match source {
            ModelSource::Hub { .. } => {
                "keep the model's config.json beside the manifest and name it in `model.config = \"config.json\"`"
            }
            _ => "point `model.source` at the checkpoint directory, or name its config.json in `model.config`",
        }),
        ResolveError::Invalid { origin, reason } => {
            Diagnostic::error(Code::InvalidModelConfig, place, format!("{origin}: {reason}")).label("unreadable model")
        }
        ResolveError::Unsupported { architecture, origin } => Diagnostic::error(
            Code::UnsupportedArchitecture,
            place,
            format!("{} cannot load {architecture} (from {origin})", crate::RUNTIME),
        )
        .label("unsupported architecture")
        .help(model::architectures::unsupported_help(&architecture)),
        ResolveError::NeedsHeaders { architecture, origin } => Diagnostic::error(
            Code::CheckpointNeeded,
            place,
            format!("{architecture} cannot be laid out from a config alone (from {origin})"),
        )
        .label("checkpoint needed")
        .help(model::architectures::needs_headers_help(&architecture)),
    }
}
