//! Finding a model's shape offline, in a fixed order, and saying which source
//! was used: a local directory (its `config.json` and the safetensors headers),
//! a local `.gguf`, the manifest's `model.config`, the local Hugging Face cache,
//! and the built-in catalog.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::architectures;
use super::shape::ModelShape;
use super::{catalog, hf_cache, safetensors};
use crate::manifest::{Model, ModelSource};

/// Where the shape came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ShapeOrigin {
    /// `config.json` and the safetensors headers of a local checkpoint.
    LocalDirectory { path: PathBuf, shards: usize },
    /// The header of a local `.gguf` file.
    Gguf { path: PathBuf },
    /// The manifest's `model.config`.
    ConfigFile { path: PathBuf },
    /// A snapshot in the local Hugging Face cache.
    HfCache { path: PathBuf, shards: usize },
    /// The built-in catalog, and the address its config was copied from.
    Catalog { id: String, address: String },
}

impl std::fmt::Display for ShapeOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::diagnostic::display_path;
        match self {
            ShapeOrigin::LocalDirectory { path, shards } => {
                write!(
                    f,
                    "local checkpoint {} ({shards} safetensors shards, exact bytes)",
                    display_path(path)
                )
            }
            ShapeOrigin::Gguf { path } => {
                write!(f, "GGUF header of {} (exact bytes)", display_path(path))
            }
            ShapeOrigin::ConfigFile { path } => write!(f, "model.config {}", display_path(path)),
            ShapeOrigin::HfCache { path, shards } => {
                write!(
                    f,
                    "Hugging Face cache {} ({shards} shards)",
                    display_path(path)
                )
            }
            ShapeOrigin::Catalog { id, address } => {
                write!(f, "built-in catalog entry {id} (from {address})")
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Resolved {
    pub shape: ModelShape,
    pub origin: ShapeOrigin,
}

/// Why no shape could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No source had the shape; each source tried, in order.
    NotFound { tried: Vec<Attempt> },
    /// A source had a config, but it could not be read.
    Invalid { origin: String, reason: String },
    /// The architecture is one mistral.rs 0.8.1 cannot load.
    Unsupported {
        architecture: String,
        origin: String,
    },
    /// mistral.rs loads the architecture, but deployctl cannot lay it out from
    /// a config alone: it needs the checkpoint's headers.
    NeedsHeaders {
        architecture: String,
        origin: String,
    },
}

/// A source of the shape that was tried and did not have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// `model.source` is a directory without a config.json.
    LocalDirectory { path: PathBuf },
    /// `model.source` names a GGUF file that does not exist.
    GgufFile { path: PathBuf },
    /// `model.config` is not set.
    ConfigKey,
    /// The Hugging Face cache has no snapshot of the model; `hub` is `None`
    /// when no variable says where the cache is.
    HfCache { hub: Option<PathBuf>, id: String },
    /// The built-in catalog lists the model, but without its config.
    CatalogWithoutConfig { id: String },
    /// The built-in catalog does not list the model.
    CatalogNoEntry { key: String },
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::LocalDirectory { path } => {
                write!(
                    f,
                    "local directory {}: no config.json there",
                    path.display()
                )
            }
            Attempt::GgufFile { path } => write!(f, "GGUF file {}: not found", path.display()),
            Attempt::ConfigKey => f.write_str("model.config: not set"),
            Attempt::HfCache { hub: Some(hub), id } => {
                write!(
                    f,
                    "Hugging Face cache {}: no snapshot of {id}",
                    hub.display()
                )
            }
            Attempt::HfCache { hub: None, .. } => {
                f.write_str("Hugging Face cache: HF_HUB_CACHE, HF_HOME and HOME are unset")
            }
            Attempt::CatalogWithoutConfig { id } => {
                write!(f, "built-in catalog: {id} is listed without a config")
            }
            Attempt::CatalogNoEntry { key } => write!(f, "built-in catalog: no entry for {key}"),
        }
    }
}

/// Resolves the shape of `model`. `var` reads environment variables (for the
/// cache location), so tests can pass their own.
pub fn resolve(
    model: &Model,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, ResolveError> {
    let resolved = find(model, var)?;
    let layout = architectures::find(&resolved.shape.architecture).map(|a| a.layout);
    if !resolved.shape.exact_tensors && layout == Some(architectures::Layout::HeadersOnly) {
        return Err(ResolveError::NeedsHeaders {
            architecture: resolved.shape.architecture,
            origin: resolved.origin.to_string(),
        });
    }
    Ok(resolved)
}

fn find(model: &Model, var: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, ResolveError> {
    let mut tried = Vec::new();
    match &model.source {
        ModelSource::LocalDirectory { path } => {
            if path.join("config.json").is_file() {
                return from_directory(path, |shards| ShapeOrigin::LocalDirectory {
                    path: path.clone(),
                    shards,
                });
            }
            tried.push(Attempt::LocalDirectory { path: path.clone() });
        }
        ModelSource::Gguf { path } => {
            if path.is_file() {
                let origin = ShapeOrigin::Gguf { path: path.clone() };
                let shape = super::gguf::read(path).map_err(|e| ResolveError::Invalid {
                    origin: origin.to_string(),
                    reason: e.to_string(),
                })?;
                if architectures::find(&shape.architecture).is_none() {
                    return Err(ResolveError::Unsupported {
                        architecture: shape.architecture,
                        origin: origin.to_string(),
                    });
                }
                return Ok(Resolved { shape, origin });
            }
            tried.push(Attempt::GgufFile { path: path.clone() });
        }
        ModelSource::Hub { .. } => {}
    }
    if let Some(config) = &model.config {
        return from_config_file(
            config,
            ShapeOrigin::ConfigFile {
                path: config.clone(),
            },
        );
    }
    tried.push(Attempt::ConfigKey);

    let hub_id = match &model.source {
        ModelSource::Hub { id } => Some(id.clone()),
        _ => None,
    };
    if let Some(id) = &hub_id {
        match hf_cache::hub_dir(var) {
            Some(hub) => {
                match hf_cache::snapshot(&hub, id, model.revision.as_deref().unwrap_or("main")) {
                    Some(dir) => {
                        return from_directory(&dir, |shards| ShapeOrigin::HfCache {
                            path: dir.clone(),
                            shards,
                        });
                    }
                    None => tried.push(Attempt::HfCache {
                        hub: Some(hub),
                        id: id.clone(),
                    }),
                }
            }
            None => tried.push(Attempt::HfCache {
                hub: None,
                id: id.clone(),
            }),
        }
    }

    // The catalog knows models by hub id; a local path named like one
    // (`/models/Qwen2-VL-7B-Instruct`) is looked up by its last component.
    let key = hub_id.clone().or_else(|| match &model.source {
        ModelSource::LocalDirectory { path } | ModelSource::Gguf { path } => {
            path.file_name().map(|n| n.to_string_lossy().into_owned())
        }
        ModelSource::Hub { .. } => None,
    });
    if let Some(key) = key {
        let entry = catalog::entries().iter().find(|e| {
            e.id.eq_ignore_ascii_case(&key)
                || e.id
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&key))
        });
        match entry.and_then(|e| catalog::lookup(&e.id)) {
            Some((entry, Some(text))) => {
                let origin = ShapeOrigin::Catalog {
                    address: entry.source.clone().unwrap_or_default(),
                    id: entry.id.clone(),
                };
                return parse_config(text, origin);
            }
            // Known to be unloadable even without its config.
            Some((entry, None))
                if entry
                    .architecture
                    .as_deref()
                    .is_some_and(|a| architectures::find(a).is_none()) =>
            {
                return Err(ResolveError::Unsupported {
                    architecture: entry.architecture.unwrap_or_default(),
                    origin: format!("built-in catalog entry {}", entry.id),
                });
            }
            // Known to plan only from its checkpoint.
            Some((entry, None))
                if entry
                    .architecture
                    .as_deref()
                    .and_then(architectures::find)
                    .is_some_and(|a| a.layout == architectures::Layout::HeadersOnly) =>
            {
                return Err(ResolveError::NeedsHeaders {
                    architecture: entry.architecture.unwrap_or_default(),
                    origin: format!("built-in catalog entry {}", entry.id),
                });
            }
            // The entry's notes are for maintainers; users get the fact.
            Some((entry, None)) => tried.push(Attempt::CatalogWithoutConfig { id: entry.id }),
            None => tried.push(Attempt::CatalogNoEntry { key }),
        }
    }
    Err(ResolveError::NotFound { tried })
}

fn from_directory(
    dir: &Path,
    origin: impl Fn(usize) -> ShapeOrigin,
) -> Result<Resolved, ResolveError> {
    let config_path = dir.join("config.json");
    let shards = safetensors::shards(dir).map_err(|e| ResolveError::Invalid {
        origin: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut resolved = from_config_file(&config_path, origin(shards.len()))?;
    if !shards.is_empty() {
        let tensors = safetensors::read_tensors(&shards).map_err(|e| ResolveError::Invalid {
            origin: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        resolved.shape.tensors = tensors;
        resolved.shape.exact_tensors = true;
    }
    Ok(resolved)
}

fn from_config_file(path: &Path, origin: ShapeOrigin) -> Result<Resolved, ResolveError> {
    let text = crate::files::read_text(path, crate::files::cap::CONFIG).map_err(|e| {
        ResolveError::Invalid {
            origin: path.display().to_string(),
            reason: crate::diagnostic::io_reason(&e),
        }
    })?;
    parse_config(&text, origin)
}

fn parse_config(text: &str, origin: ShapeOrigin) -> Result<Resolved, ResolveError> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ResolveError::Invalid {
            origin: origin.to_string(),
            reason: format!("not JSON: {e}"),
        })?;
    let architecture = json
        .get("architectures")
        .and_then(|a| a.get(0))
        .and_then(|a| a.as_str())
        .unwrap_or_default()
        .to_owned();
    if architectures::find(&architecture).is_none() {
        return Err(ResolveError::Unsupported {
            architecture: if architecture.is_empty() {
                "(none)".into()
            } else {
                architecture
            },
            origin: origin.to_string(),
        });
    }
    let mut shape = super::config_json::from_config(&json).map_err(|e| ResolveError::Invalid {
        origin: origin.to_string(),
        reason: e.0,
    })?;
    if architectures::find(&architecture).map(|a| a.layout)
        != Some(architectures::Layout::HeadersOnly)
    {
        shape.tensors = super::layout::tensors(&shape);
    }
    Ok(Resolved { shape, origin })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::values::ModelKind;

    fn gguf_model(path: &Path) -> Model {
        Model {
            source: ModelSource::Gguf {
                path: path.to_path_buf(),
            },
            config: None,
            kind: ModelKind::Auto,
            revision: None,
            tokenizer: None,
            chat_template: None,
        }
    }

    const META: &[(&str, u32)] = &[
        ("block_count", 1),
        ("embedding_length", 32),
        ("attention.head_count", 2),
        ("feed_forward_length", 64),
        ("context_length", 512),
    ];

    #[test]
    fn a_gguf_source_plans_from_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        super::super::gguf::tests::write(
            &path,
            "qwen2",
            META,
            &[("token_embd.weight", &[3, 32], 8)],
        );
        let resolved = resolve(&gguf_model(&path), &|_| None).unwrap();
        assert_eq!(resolved.origin, ShapeOrigin::Gguf { path: path.clone() });
        assert_eq!(resolved.shape.architecture, "Qwen2ForCausalLM");
        assert!(resolved.shape.exact_tensors);
    }

    #[test]
    fn a_gguf_architecture_mistralrs_cannot_load_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        super::super::gguf::tests::write(&path, "mamba", META, &[]);
        match resolve(&gguf_model(&path), &|_| None) {
            Err(ResolveError::Unsupported { architecture, .. }) => {
                assert_eq!(architecture, "gguf:mamba")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn catalog_models_mistralrs_cannot_load_are_named_with_their_architecture() {
        for (id, class) in [
            ("OpenGVLab/InternVL2_5-26B", "InternVLChatModel"),
            ("THUDM/cogvlm-chat-hf", "CogVLMForCausalLM"),
        ] {
            let model = Model {
                source: ModelSource::Hub { id: id.into() },
                ..gguf_model(Path::new("/x"))
            };
            match resolve(&model, &|_| None) {
                Err(ResolveError::Unsupported { architecture, .. }) => {
                    assert_eq!(architecture, class)
                }
                other => panic!("{id}: {other:?}"),
            }
        }
    }

    #[test]
    fn without_any_source_every_attempt_is_listed() {
        let model = Model {
            source: ModelSource::Hub {
                id: "nobody/nothing".into(),
            },
            ..gguf_model(Path::new("/x"))
        };
        match resolve(&model, &|_| None) {
            Err(ResolveError::NotFound { tried }) => {
                assert_eq!(tried.len(), 3, "{tried:?}");
                assert_eq!(tried[0], Attempt::ConfigKey);
                assert_eq!(
                    tried[2],
                    Attempt::CatalogNoEntry {
                        key: "nobody/nothing".into()
                    }
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
