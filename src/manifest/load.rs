//! Reading a manifest: its file and its `extends` chain, then the environment and
//! `--set` layers, merged with figment and validated.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::Figment;

use super::document::Document;
use super::layers::{self, Layer, LayerKind};
use super::normalize::normalize;
use super::overrides::Overrides;
use super::path::KeyPath;
use super::provenance::{Provenance, on_disk};
use super::secrets::Secrets;
use super::structure::Schema;
use super::validate::validate;
use super::validated::Manifest;
use super::wire::RawManifest;
use crate::diagnostic::{self, Code, Diagnostic, Place, SourceText, display_path, io_reason};

/// A manifest that loaded: the merged TOML model and where each value came from.
#[derive(Debug)]
pub struct Loaded {
    pub raw: RawManifest,
    pub provenance: Arc<Provenance>,
}

/// Everything one load produced: the manifest if it is valid, and every diagnostic.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    pub loaded: Option<Loaded>,
    pub manifest: Option<Manifest>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every file read, the manifest last.
    pub files: Vec<PathBuf>,
}

impl LoadOutcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads manifests. Holds the schema, which is built once and reused for every file.
pub struct Loader {
    schema: Schema,
    /// The folder relative paths are read from, when not the working
    /// directory; diagnostics still name them as given.
    base: Option<PathBuf>,
}

impl Default for Loader {
    fn default() -> Self {
        Self::new()
    }
}

impl Loader {
    pub fn new() -> Self {
        Loader {
            schema: Schema::manifest(),
            base: None,
        }
    }

    /// Reads relative paths (the manifest's, its `extends`, the files it
    /// names) from `dir`, as if the process ran there, and names them as
    /// given: a caller loading trees side by side (`diff`, the tests) does
    /// not move the process's working directory.
    pub fn in_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base = Some(dir.into());
        self
    }

    /// Reads, merges and validates the manifest at `path`.
    pub fn load(&self, path: &Path, overrides: &Overrides) -> LoadOutcome {
        self.load_from(path, None, overrides)
    }

    /// Merges and validates `text` as if it were the file at `path`: relative
    /// paths and `extends` resolve against `path`'s directory, and
    /// diagnostics name `path`. Nothing is written (`init` checks its drafts
    /// in memory).
    pub fn load_str(&self, path: &Path, text: &str, overrides: &Overrides) -> LoadOutcome {
        self.load_from(path, Some(text.to_owned()), overrides)
    }

    fn load_from(&self, path: &Path, text: Option<String>, overrides: &Overrides) -> LoadOutcome {
        let mut outcome = LoadOutcome::default();
        let mut documents = Vec::new();
        let mut seen = HashSet::new();
        self.collect(
            path,
            text,
            None,
            &mut Vec::new(),
            &mut seen,
            &mut documents,
            &mut outcome.diagnostics,
        );
        outcome.files = documents
            .iter()
            .map(|d| d.source.path().to_path_buf())
            .collect();
        let secrets = Secrets::find(&documents, overrides);

        // A file with a syntax error is not in `documents`; its keys are unknown,
        // so checking the others' values would only report guesses.
        let mut files_ok = !outcome.diagnostics.iter().any(|d| {
            matches!(
                d.code,
                Code::Syntax | Code::Unreadable | Code::ExtendsNotFound | Code::ExtendsCycle
            )
        });
        let mut figment = Figment::from(Layer::defaults());
        for doc in &mut documents {
            let parsed = doc.values.take();
            match Layer::file(doc.source.path(), parsed, doc.source.text(), &doc.invalid) {
                Ok(layer) => figment = figment.merge(layer),
                Err(e) => {
                    files_ok = false;
                    outcome.diagnostics.push(Diagnostic::error(
                        Code::Syntax,
                        Place::File(doc.source.path().to_path_buf()),
                        format!("invalid TOML: {e}"),
                    ));
                }
            }
        }
        for layer in self.overrides(overrides, &mut outcome.diagnostics) {
            figment = figment.merge(layer);
        }
        if !files_ok || documents.is_empty() {
            secrets.redact(&mut outcome.diagnostics);
            diagnostic::sort(&mut outcome.diagnostics);
            return outcome;
        }

        let provenance = Arc::new(Provenance::new(figment, documents, self.base.clone()));
        match provenance.extract() {
            Ok(raw) => {
                let (manifest, diagnostics) = validate(&raw, &provenance);
                outcome.diagnostics.extend(diagnostics);
                outcome.manifest =
                    manifest.filter(|_| !outcome.diagnostics.iter().any(Diagnostic::is_error));
                outcome.loaded = Some(Loaded { raw, provenance });
            }
            Err(errors) => {
                for e in *errors {
                    outcome.diagnostics.push(extract_error(&e, &provenance));
                }
            }
        }
        secrets.redact(&mut outcome.diagnostics);
        diagnostic::sort(&mut outcome.diagnostics);
        outcome
    }

    /// Reads `path` and, depth first, the files it extends; pushes them lowest first.
    #[allow(clippy::too_many_arguments)]
    fn collect(
        &self,
        path: &Path,
        given: Option<String>,
        via: Option<(&Document, std::ops::Range<usize>)>,
        chain: &mut Vec<PathBuf>,
        seen: &mut HashSet<PathBuf>,
        documents: &mut Vec<Document>,
        out: &mut Vec<Diagnostic>,
    ) {
        let here = |span: &Option<(&Document, std::ops::Range<usize>)>| match span {
            Some((doc, span)) => doc.place(span.clone()),
            None => Place::File(path.to_path_buf()),
        };
        let read = match given {
            Some(text) => Ok(text),
            None => crate::files::read_text(
                &on_disk(self.base.as_deref(), path),
                crate::files::cap::MANIFEST,
            ),
        };
        let text = match read {
            Ok(text) => text,
            Err(e) => {
                let (code, message) = match (&via, e.kind()) {
                    (Some(_), std::io::ErrorKind::NotFound) => (
                        Code::ExtendsNotFound,
                        format!(
                            "`extends` names `{}`, which does not exist",
                            display_path(path)
                        ),
                    ),
                    _ => (
                        Code::Unreadable,
                        format!("cannot read `{}`: {}", display_path(path), io_reason(&e)),
                    ),
                };
                let label = if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file"
                } else {
                    "cannot be read"
                };
                let mut d = Diagnostic::error(code, here(&via), message).label(label);
                if via.is_some() {
                    d = d.help("paths in `extends` are relative to the file that lists them");
                }
                out.push(d);
                return;
            }
        };
        let identity = std::fs::canonicalize(on_disk(self.base.as_deref(), path))
            .unwrap_or_else(|_| path.to_path_buf());
        if let Some(start) = chain.iter().position(|p| *p == identity) {
            let names: Vec<String> = chain[start..]
                .iter()
                .chain(std::iter::once(&identity))
                .map(|p| {
                    p.file_name()
                        .map_or_else(|| display_path(p), |n| n.to_string_lossy().into_owned())
                })
                .collect();
            out.push(
                Diagnostic::error(
                    Code::ExtendsCycle,
                    here(&via),
                    format!("`extends` cycle: {}", names.join(" → ")),
                )
                .label("closes the cycle")
                .help("a file cannot extend itself, directly or through others: remove this entry"),
            );
            return;
        }
        if !seen.insert(identity.clone()) {
            return; // reached twice through different bases: merge it once
        }
        let source = SourceText::new(path, text);
        let Some(doc) = Document::parse(source, &self.schema, out) else {
            return;
        };
        chain.push(identity);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for (entry, span) in doc.extends.clone() {
            let base = normalize(&dir.join(&entry));
            self.collect(&base, None, Some((&doc, span)), chain, seen, documents, out);
        }
        chain.pop();
        documents.push(doc);
    }

    fn overrides(&self, overrides: &Overrides, out: &mut Vec<Diagnostic>) -> Vec<Layer> {
        let mut env: Vec<&(String, String)> = overrides.env.iter().collect();
        env.sort();
        let mut result = Vec::new();
        for (name, value) in env {
            let Some(key) = layers::env_key(name) else {
                continue;
            };
            result.extend(layers::override_layer(
                &self.schema,
                &key,
                value,
                Place::Env(name.clone()),
                out,
            ));
        }
        for flag in &overrides.sets {
            match layers::parse_set_flag(flag) {
                Ok((key, value)) => {
                    let place = Place::Flag(format!("--set {flag}"));
                    result.extend(layers::override_layer(
                        &self.schema,
                        &key,
                        value,
                        place,
                        out,
                    ));
                }
                Err(e) => out.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        Place::Flag(format!("--set {flag}")),
                        e.to_string(),
                    )
                    .help("e.g. `--set server.port=9000`"),
                ),
            }
        }
        result
    }
}

/// A figment extraction error, pointed at the layer that holds the value. The
/// schema check catches nearly everything first; this is the safety net.
fn extract_error(e: &figment::Error, provenance: &Provenance) -> Diagnostic {
    let path = KeyPath::parse(&e.path.join("."));
    let place = match e.metadata.as_ref().map(LayerKind::from_metadata) {
        Some(LayerKind::Env(name)) => Place::Env(name),
        Some(LayerKind::Flag(flag)) => Place::Flag(flag),
        _ => provenance.value_place(&path),
    };
    let code = match &e.kind {
        figment::error::Kind::UnknownField(..) => Code::UnknownKey,
        figment::error::Kind::MissingField(_) => Code::MissingKey,
        figment::error::Kind::InvalidValue(..) | figment::error::Kind::InvalidLength(..) => {
            Code::InvalidValue
        }
        _ => Code::InvalidType,
    };
    Diagnostic::error(code, place, format!("`{path}`: {}", e.kind))
}
