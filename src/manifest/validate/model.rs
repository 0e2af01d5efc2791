//! `[model]` and `[workload]`: the model source, its files, and image limits.

use std::path::{Path, PathBuf};

use super::{Checker, json, path};
use crate::diagnostic::{Code, Place, SourceText, display_path, io_reason};
use crate::manifest::normalize::normalize;
use crate::manifest::path::KeyPath;
use crate::manifest::validated::*;
use crate::manifest::values::ModelKind;
use crate::manifest::wire::{self};

impl Checker<'_> {
    pub(super) fn model(&mut self, raw: Option<&wire::RawModel>) -> Option<Model> {
        let p = path("model");
        let Some(raw) = raw.filter(|m| m.source.is_some()) else {
            if self.provenance.was_rejected(&path("model.source"))
                || self.provenance.was_rejected(&p)
            {
                return None;
            }
            let at = self.key(&p);
            self.error(
                Code::MissingKey,
                at,
                "missing `model.source`: the model to deploy",
            )
            .with_label("the manifest needs a `[model]` table with `source`")
            .with_help(
                "add `[model]` with `source = \"/models/...\"` (a local directory or .gguf file) \
                 or a hub id such as `source = \"Qwen/Qwen2-VL-7B-Instruct\"`",
            );
            return None;
        };
        let source_path = path("model.source");
        let text = raw.source.as_deref().unwrap_or_default();
        let base = self.provenance.base_dir(&source_path);
        let source = classify_source_in(text, &base, &|p| self.provenance.on_disk(p).exists());
        let source = match source {
            Some(s) => Some(s),
            None => {
                let at = self.value(&source_path);
                self.error(
                    Code::InvalidModelSource,
                    at,
                    format!("`{text}` is neither a local path nor a hub id"),
                )
                .with_label("not a path or `owner/name`")
                .with_help(
                    "write a hub id such as `Qwen/Qwen2-VL-7B-Instruct`, or a path: `/models/name`, \
                     `./models/name` or `model.gguf`",
                );
                None
            }
        };
        if raw.revision.is_some() && !matches!(source, Some(ModelSource::Hub { .. }) | None) {
            let at = self.key(&path("model.revision"));
            self.error(
                Code::InvalidModelSource,
                at,
                "`revision` applies to hub ids only",
            )
            .with_label("the source is a local path")
            .with_help("remove `revision`; a local checkpoint has no revisions");
        }
        let config = self.existing_file(raw.config.as_deref(), &path("model.config"));
        let mut tokenizer = self.existing_file(raw.tokenizer.as_deref(), &path("model.tokenizer"));
        if let Ok(Some(file)) = &tokenizer
            && !self.tokenizer_file(file)
        {
            tokenizer = Err(());
        }
        let chat_template =
            self.existing_file(raw.chat_template.as_deref(), &path("model.chat_template"));
        if let Ok(Some(template)) = &chat_template {
            let ext = template.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "jinja" | "json") {
                let at = self.value(&path("model.chat_template"));
                self.error(
                    Code::InvalidChatTemplate,
                    at,
                    format!("chat template `{}` is neither `.jinja` nor `.json`", display_path(template)),
                )
                .with_label("unsupported extension")
                .with_help(
                    "point at a Jinja template (`.jinja`) or a `tokenizer_config.json`-style file (`.json`)",
                );
            }
        }
        Some(Model {
            source: source?,
            config: config.ok()?,
            kind: raw.kind.unwrap_or_default(),
            revision: raw.revision.clone(),
            tokenizer: tokenizer.ok()?,
            chat_template: chat_template_ok(chat_template.ok()?)?,
        })
    }

    /// Whether `file` is a Hugging Face `tokenizer.json`, as far as deployctl can
    /// tell without the `tokenizers` crate: JSON with a `model` table. An
    /// absolute path that is not on this machine is `apply`'s to check.
    fn tokenizer_file(&mut self, file: &Path) -> bool {
        if file.is_absolute() && !file.exists() {
            return true;
        }
        let on_disk = self.provenance.on_disk(file);
        let p = path("model.tokenizer");
        let help = "point at the `tokenizer.json` saved with the model \
                    (`tokenizer.save_pretrained()` writes it)";
        let text = match crate::files::read_text(&on_disk, crate::files::cap::TOKENIZER) {
            Ok(text) => text,
            Err(e) => {
                let at = self.value(&p);
                self.error(
                    Code::InvalidTokenizer,
                    at,
                    format!(
                        "cannot read tokenizer `{}`: {}",
                        display_path(file),
                        io_reason(&e)
                    ),
                )
                .with_label("unreadable")
                .with_help(help);
                return false;
            }
        };
        let source = SourceText::new(file.to_path_buf(), text);
        // Only the keys are kept; serde skips the values without building them.
        let keys = serde_json::from_str::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(
            source.text(),
        );
        let (at, message, label) = match keys {
            Ok(keys) if keys.contains_key("model") => return true,
            Ok(_) => (
                Place::File(file.to_path_buf()),
                format!(
                    "tokenizer `{}` is not a Hugging Face tokenizer.json: it has no `model` table",
                    display_path(file)
                ),
                None,
            ),
            Err(e) if e.is_data() => (
                json::error_place(&source, &e),
                format!(
                    "tokenizer `{}` is not a Hugging Face tokenizer.json, which is a JSON object",
                    display_path(file)
                ),
                Some(json::reason(&e)),
            ),
            Err(e) => (
                json::error_place(&source, &e),
                format!("tokenizer `{}` is not valid JSON", display_path(file)),
                Some(json::reason(&e)),
            ),
        };
        let d = self
            .error(Code::InvalidTokenizer, at, message)
            .with_help(help);
        if let Some(label) = label {
            d.with_label(label);
        }
        false
    }

    /// A path set at `p`, resolved against the file that set it. Relative paths
    /// live in the config repository and must exist; absolute paths point into the
    /// serving machine and are checked by `apply`.
    fn existing_file(&mut self, text: Option<&str>, p: &KeyPath) -> Result<Option<PathBuf>, ()> {
        let Some(text) = text else { return Ok(None) };
        let written = Path::new(text);
        let resolved = if written.is_absolute() {
            written.to_path_buf()
        } else {
            normalize(&self.provenance.base_dir(p).join(written))
        };
        if written.is_relative() && !self.provenance.on_disk(&resolved).is_file() {
            let at = self.value(p);
            let (what, label) = match std::fs::metadata(self.provenance.on_disk(&resolved)) {
                Ok(meta) if meta.is_dir() => ("a folder".to_owned(), "not a file"),
                Ok(meta) => (
                    format!("which is {}, not a regular file", crate::files::kind(&meta)),
                    "not a regular file",
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    ("which does not exist".to_owned(), "no such file")
                }
                Err(e) => (
                    format!("which cannot be read: {}", crate::diagnostic::io_reason(&e)),
                    "unreadable",
                ),
            };
            self.error(
                Code::FileNotFound,
                at,
                format!("`{p}` names `{}`, {what}", display_path(&resolved)),
            )
            .with_label(label)
            .with_help("relative paths are resolved against the manifest that sets them");
            return Err(());
        }
        Ok(Some(resolved))
    }

    pub(super) fn workload(&mut self, raw: wire::RawWorkload, kind: ModelKind) -> Workload {
        if kind == ModelKind::Text {
            for key in ["max_images", "max_image_size"] {
                let p = path(&format!("workload.{key}"));
                let set = match key {
                    "max_images" => raw.max_images.is_some(),
                    _ => raw.max_image_size.is_some(),
                };
                if set {
                    let at = self.key(&p);
                    let kind_span = self.note_span(&at, &path("model.kind"));
                    let d = self
                        .error(
                            Code::MultimodalOnly,
                            at,
                            format!(
                                "`{key}` applies to multimodal models, but `model.kind` is `text`"
                            ),
                        )
                        .with_label("images need a multimodal model");
                    d.with_help(format!(
                        "remove `{key}`, or set `model.kind = \"multimodal\"`"
                    ));
                    if let Some(span) = kind_span {
                        d.with_note(span, "declared text-only here");
                    }
                }
            }
        }
        Workload {
            max_seq_len: raw
                .max_seq_len
                .and_then(|s| self.amount(s.into(), "workload.max_seq_len", 16_777_216)),
            max_batch_size: raw
                .max_batch_size
                .and_then(|s| self.amount(s.into(), "workload.max_batch_size", 65_536))
                .unwrap_or(Amount::Fixed(u64::from(
                    crate::manifest::defaults::MAX_BATCH_SIZE,
                ))),
            max_images: raw.max_images,
            max_image_size: raw.max_image_size,
        }
    }
}

impl Checker<'_> {
    /// A workload figure; the schema has bounded a plain number already.
    fn amount(&mut self, raw: wire::Solvable, key: &str, most: u64) -> Option<Amount> {
        match raw {
            wire::Solvable::Value(n) => Some(Amount::Fixed(n)),
            wire::Solvable::Auto => Some(Amount::Auto { max: None }),
            wire::Solvable::Capped(c) if !c.auto => {
                let at = self.value(&path(&format!("{key}.auto")));
                self.error(
                    Code::InvalidValue,
                    at,
                    format!("`{key}.auto = false` asks for nothing: write the number instead"),
                )
                .with_label("not solved")
                .with_help(format!(
                    "e.g. `{} = 4096`",
                    key.rsplit('.').next().unwrap_or(key)
                ));
                None
            }
            wire::Solvable::Capped(c) => match c.max {
                Some(max) if max > most => {
                    let at = self.value(&path(&format!("{key}.max")));
                    self.error(
                        Code::InvalidValue,
                        at,
                        format!("`{key}.max` is {max}, more than the {most} it may be"),
                    )
                    .with_label("too large");
                    None
                }
                max => Some(Amount::Auto { max }),
            },
        }
    }
}

fn chat_template_ok(t: Option<PathBuf>) -> Option<Option<PathBuf>> {
    match &t {
        Some(p)
            if !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jinja" | "json")
            ) =>
        {
            None
        }
        _ => Some(t),
    }
}

/// How `model.source` is read: a `.gguf` file, a path, or a hub id. A relative
/// `owner/name` that exists beside the manifest is a path; write `./` to be explicit.
pub fn classify_source(text: &str, base: &Path) -> Option<ModelSource> {
    classify_source_in(text, base, &|p| p.exists())
}

/// `classify_source`, with `exists` telling whether a path is on disk (a
/// loader reading from another folder asks there).
fn classify_source_in(
    text: &str,
    base: &Path,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<ModelSource> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let as_path = || {
        let p = Path::new(text);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalize(&base.join(p))
        }
    };
    if text.to_ascii_lowercase().ends_with(".gguf") {
        return Some(ModelSource::Gguf { path: as_path() });
    }
    let explicit_path = text.starts_with('/')
        || text.starts_with("./")
        || text.starts_with("../")
        || text.starts_with('~')
        || text.contains('\\');
    if explicit_path || exists(&as_path()) {
        return Some(ModelSource::LocalDirectory { path: as_path() });
    }
    let parts: Vec<&str> = text.split('/').collect();
    let hub_part = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.starts_with(['-', '.'])
    };
    if parts.len() == 2 && parts.iter().all(|p| hub_part(p)) {
        return Some(ModelSource::Hub {
            id: text.to_owned(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        let base = Path::new("/nonexistent");
        assert_eq!(
            classify_source("Qwen/Qwen2-VL-7B-Instruct", base),
            Some(ModelSource::Hub {
                id: "Qwen/Qwen2-VL-7B-Instruct".into()
            })
        );
        assert_eq!(
            classify_source("/models/x", base),
            Some(ModelSource::LocalDirectory {
                path: "/models/x".into()
            })
        );
        assert_eq!(
            classify_source("m.Q4.gguf", base),
            Some(ModelSource::Gguf {
                path: "/nonexistent/m.Q4.gguf".into()
            })
        );
        assert_eq!(classify_source("mistral", base), None);
        assert_eq!(classify_source("a/b/c", base), None);
    }
}
