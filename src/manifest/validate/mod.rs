//! Turns the merged TOML model into a [`Manifest`], checking every value and
//! every cross-field rule that needs no hardware and no weights. Every problem
//! is reported, not only the first. One file per manifest table.

mod devices;
mod json;
mod kubernetes;
mod model;
mod parallelism;
mod server;

pub use kubernetes::STARTUP_SECONDS as K8S_STARTUP_SECONDS;
pub use model::classify_source;
pub use server::is_loopback;

use super::document::Document;
use super::path::KeyPath;
use super::provenance::Provenance;
use super::validated::*;
use super::values::ModelKind;
use super::wire::RawManifest;
use crate::diagnostic::{Code, Diagnostic, Place};

/// Validates `raw`, the merged result of the layers in `provenance`.
/// The most entries a per-GPU list may have: far more GPUs (or MIG slices)
/// than one machine holds.
const MAX_LIST: usize = 1024;

pub(super) fn validate(
    raw: &RawManifest,
    provenance: &Provenance,
) -> (Option<Manifest>, Vec<Diagnostic>) {
    let mut checker = Checker {
        provenance,
        out: Vec::new(),
        gpus: None,
        gpu_count: None,
    };
    let manifest = checker.manifest(raw);
    let failed = checker.out.iter().any(Diagnostic::is_error);
    (manifest.filter(|_| !failed), checker.out)
}

struct Checker<'a> {
    provenance: &'a Provenance,
    out: Vec<Diagnostic>,
    /// `devices.gpus` when every entry parsed, even if other device keys did not,
    /// so the parallelism checks can still count GPUs.
    gpus: Option<Vec<Gpu>>,
    /// How many GPUs the deployment has, when the manifest says: from `gpus`, or
    /// from `devices.expect.count` when `gpus` is unset.
    gpu_count: Option<GpuCount>,
}

#[derive(Clone, Copy)]
struct GpuCount {
    n: usize,
    /// Where the number comes from, for messages: "`devices.gpus` lists".
    from: &'static str,
}

/// `1 entry`, `2 entries`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn path(dotted: &str) -> KeyPath {
    KeyPath::parse(dotted)
}

impl Checker<'_> {
    fn error(&mut self, code: Code, at: Place, message: impl Into<String>) -> &mut Diagnostic {
        self.out.push(Diagnostic::error(code, at, message));
        self.out.last_mut().expect("just pushed")
    }

    fn warning(&mut self, code: Code, at: Place, message: impl Into<String>) -> &mut Diagnostic {
        self.out.push(Diagnostic::warning(code, at, message));
        self.out.last_mut().expect("just pushed")
    }

    fn value(&self, p: &KeyPath) -> Place {
        self.provenance.value_place(p)
    }

    fn key(&self, p: &KeyPath) -> Place {
        self.provenance.key_place(p)
    }

    /// A span in the same file as `place`, for a secondary label.
    fn note_span(&self, place: &Place, other: &KeyPath) -> Option<std::ops::Range<usize>> {
        match (place, self.provenance.key_place(other)) {
            (Place::Span { source, .. }, Place::Span { source: s2, span })
                if std::sync::Arc::ptr_eq(source, &s2) =>
            {
                Some(span)
            }
            _ => None,
        }
    }

    fn manifest(&mut self, raw: &RawManifest) -> Option<Manifest> {
        let RawManifest {
            version,
            name,
            extends: _,
            model,
            precision,
            workload,
            devices,
            parallelism,
            server,
            kubernetes,
        } = raw;
        self.version(*version);
        let name = self.name(name.as_deref());
        let model = self.model(model.as_ref());
        let precision = precision.clone().unwrap_or_default();
        let precision = Precision {
            dtype: precision.dtype.unwrap_or_default(),
            quantization: precision.quantization.unwrap_or_default(),
            kv_cache: precision.kv_cache.unwrap_or_default(),
        };
        let kind = model.as_ref().map_or(ModelKind::Auto, |m| m.kind);
        let workload = self.workload(workload.clone().unwrap_or_default(), kind);
        let devices = self.devices(devices.clone().unwrap_or_default());
        let parallelism = self.parallelism(parallelism.clone().unwrap_or_default());
        let server = self.server(
            server.clone().unwrap_or_default(),
            workload.max_batch_size.fixed(),
        );
        Some(Manifest {
            name: name?,
            model: model?,
            precision,
            workload,
            devices: devices?,
            parallelism: parallelism?,
            server: server?,
            kubernetes: match kubernetes {
                Some(raw) => Some(self.kubernetes(raw)?),
                None => None,
            },
        })
    }

    fn version(&mut self, merged: Option<i64>) {
        let documents: Vec<&Document> = self.provenance.documents().iter().collect();
        for doc in documents {
            if let Some((v, span)) = &doc.version {
                if *v != 1 {
                    self.error(
                        Code::UnsupportedVersion,
                        doc.place(span.clone()),
                        format!("manifest format version {v} is not supported"),
                    )
                    .with_label("unsupported version")
                    .with_help(format!(
                        "this deployctl {} reads format version 1: write `version = 1`",
                        env!("CARGO_PKG_VERSION")
                    ));
                }
            }
        }
        let top = self.provenance.top();
        if top.version.is_none()
            && merged.is_none()
            && !self.provenance.was_rejected(&path("version"))
        {
            let place = top.place(0..0);
            self.error(
                Code::MissingKey,
                place,
                "missing `version`: the manifest format version",
            )
            .with_label("expected `version = 1` in this file")
            .with_help("add `version = 1` as the first key of the file");
        }
    }

    /// Whether the list at `key`, of `len` entries, is short enough to check
    /// entry by entry. A longer one (a generated file gone wrong, or hostile)
    /// gets one error instead of one per entry.
    pub(super) fn list_fits(&mut self, key: &str, len: usize) -> bool {
        if len <= MAX_LIST {
            return true;
        }
        let at = self.value(&path(key));
        self.error(
            Code::InvalidValue,
            at,
            format!("`{key}` has {len} entries, more than the {MAX_LIST} any machine needs"),
        )
        .with_label("too many entries")
        .with_help("list one entry per GPU");
        false
    }

    fn name(&mut self, name: Option<&str>) -> Option<String> {
        let p = path("name");
        let name = match name {
            Some(n) => n.to_owned(),
            None => self
                .provenance
                .top()
                .source
                .path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':'));
        if !valid {
            let at = self.value(&p);
            self.error(
                Code::InvalidName,
                at,
                format!("`{name}` cannot serve as the deployment's model id"),
            )
            .with_label("letters, digits, `-`, `_`, `.`, `/` and `:` only")
            .with_help(format!(
                "set `name` to something like `{}`",
                slug(&name).unwrap_or_else(|| "my-deployment".into())
            ));
            return None;
        }
        Some(name)
    }
}

/// `text` as a deployment name: runs of anything but ASCII letters, digits,
/// `_` and `.` become one `-`, none at either end. `None` if nothing is left.
pub fn slug(text: &str) -> Option<String> {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            c
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    let out = out.trim_end_matches('-');
    (!out.is_empty()).then(|| out.to_owned())
}
