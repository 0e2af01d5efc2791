//! The model `--model` names: resolved, or a near miss suggested; and how
//! `model.source` writes it.

use std::fmt::Write as _;
use std::path::Path;

use super::Fail;
use crate::diagnostic::suggest;
use crate::manifest::values::ModelKind;
use crate::manifest::{Model, ModelSource};
use crate::model::{self, ResolveError, Resolved, ShapeOrigin, catalog};

pub(super) fn resolve(text: &str, source: &ModelSource) -> Result<Resolved, Fail> {
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
pub(super) fn catalog_ids() -> Vec<String> {
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

pub(super) fn catalog_list() -> String {
    catalog_ids().iter().map(|id| format!("  {id}\n")).collect()
}

/// "help: did you mean …?" for a near miss of a catalog id, or nothing.
pub(super) fn did_you_mean(text: &str) -> String {
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
pub(super) fn written_source(
    text: &str,
    source: &ModelSource,
    origin: &ShapeOrigin,
    dir: &Path,
) -> String {
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
