//! Where each resolved value came from: a file and span, an environment
//! variable, a `--set` flag, or a built-in default.

use std::path::{Path, PathBuf};

use figment::Figment;

use super::document::Document;
use super::layers::LayerKind;
use super::path::KeyPath;
use super::wire::RawManifest;
use crate::diagnostic::{Place, display_path};

/// The merged layers of one manifest, and the documents behind them.
pub struct Provenance {
    figment: Figment,
    /// Every file, lowest precedence first; the last is the manifest itself.
    documents: Vec<Document>,
    /// The layers merged once, with the tags that name each value's layer.
    merged: Option<figment::value::Value>,
    /// The loader's folder for relative paths (`Loader::in_dir`).
    base: Option<PathBuf>,
}

impl std::fmt::Debug for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provenance")
            .field(
                "files",
                &self
                    .documents
                    .iter()
                    .map(|d| d.source.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Provenance {
    pub fn new(figment: Figment, documents: Vec<Document>, base: Option<PathBuf>) -> Self {
        assert!(
            !documents.is_empty(),
            "a manifest has at least its own file"
        );
        // Figment merges every layer again on each lookup; `layer` is asked
        // for each diagnostic's place, so the merge is kept.
        let merged = figment.find_value("").ok();
        Provenance {
            figment,
            documents,
            merged,
            base,
        }
    }

    /// The merged layers as the wire model. Figment's own `extract` would
    /// merge every layer again; the kept merge is read instead, and figment
    /// is asked only when that fails, for errors that name their layer.
    pub(crate) fn extract(&self) -> Result<RawManifest, Box<figment::Error>> {
        if let Some(raw) = self.merged.as_ref().and_then(|v| v.deserialize().ok()) {
            return Ok(raw);
        }
        self.figment.extract().map_err(Box::new)
    }

    /// Where `path`, as the manifest names it, is on disk.
    pub fn on_disk(&self, path: &Path) -> PathBuf {
        on_disk(self.base.as_deref(), path)
    }

    pub fn figment(&self) -> &Figment {
        &self.figment
    }

    /// The manifest file itself.
    pub fn top(&self) -> &Document {
        self.documents.last().expect("checked in new")
    }

    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// Whether some file set `path` to a value the schema check rejected (and
    /// reported); such a key is absent from the merge but not missing.
    pub fn was_rejected(&self, path: &KeyPath) -> bool {
        self.documents.iter().any(|d| d.invalid.contains(path))
    }

    /// The layer that supplied the value at `path`, if any did.
    pub fn layer(&self, path: &KeyPath) -> Option<LayerKind> {
        let value = self.merged.as_ref()?.find_ref(&path.layer_key().dotted())?;
        self.figment
            .get_metadata(value.tag())
            .map(LayerKind::from_metadata)
    }

    fn document(&self, file: &Path) -> Option<&Document> {
        self.documents
            .iter()
            .rev()
            .find(|d| d.source.path() == file)
    }

    /// Where to point at the value of `path`.
    pub fn value_place(&self, path: &KeyPath) -> Place {
        self.place(path, Document::value_span)
    }

    /// Where to point at the key of `path` (for array elements, the element).
    pub fn key_place(&self, path: &KeyPath) -> Place {
        self.place(path, Document::key_span)
    }

    fn place(
        &self,
        path: &KeyPath,
        span_of: fn(&Document, &KeyPath) -> Option<std::ops::Range<usize>>,
    ) -> Place {
        match self.layer(path) {
            Some(LayerKind::Env(name)) => Place::Env(name),
            Some(LayerKind::Flag(flag)) => Place::Flag(flag),
            Some(LayerKind::File(file)) => {
                let doc = self.document(&file).unwrap_or(self.top());
                match span_of(doc, path) {
                    Some(span) => doc.place(span),
                    None => self.nearest(doc, path),
                }
            }
            // A default or a missing key: point at the closest table the manifest writes.
            Some(LayerKind::Default) | None => self.nearest(self.top(), path),
        }
    }

    /// The span of the deepest ancestor of `path` present in `doc`, or the file's start.
    fn nearest(&self, doc: &Document, path: &KeyPath) -> Place {
        let segments = path.segments();
        for len in (1..segments.len()).rev() {
            let ancestor = KeyPath::from_segments(&segments[..len]);
            if let Some(span) = doc.key_span(&ancestor) {
                return doc.place(span);
            }
        }
        doc.place(0..0)
    }

    /// The directory that a relative path set at `path` is relative to: the file
    /// that set it, or the working directory for environment and flags.
    pub fn base_dir(&self, path: &KeyPath) -> PathBuf {
        match self.layer(path) {
            Some(LayerKind::File(file)) => file.parent().map(Path::to_path_buf).unwrap_or_default(),
            _ => PathBuf::new(),
        }
    }

    /// `deploy.toml:12`, `DEPLOYCTL_SERVER__PORT`, `--set server.port=9000` or `default`.
    pub fn describe(&self, path: &KeyPath) -> String {
        match self.layer(path) {
            Some(LayerKind::File(file)) => {
                let line = self
                    .document(&file)
                    .and_then(|d| d.line_of(path).or_else(|| d.line_of(&path.layer_key())));
                match line {
                    Some(line) => format!("{}:{line}", display_path(&file)),
                    None => display_path(&file),
                }
            }
            Some(LayerKind::Env(name)) => format!("env {name}"),
            Some(LayerKind::Flag(flag)) => flag,
            Some(LayerKind::Default) | None => "default".to_owned(),
        }
    }
}

/// Where a path the manifest names is on disk: under `base` when relative.
pub(super) fn on_disk(base: Option<&Path>, path: &Path) -> PathBuf {
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    }
}
