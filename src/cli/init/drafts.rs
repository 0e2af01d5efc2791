//! Drafts checked in memory with one `App`, and the final text written
//! beside its target, loaded back and compared before the rename.

use std::fmt::Write as _;
use std::path::PathBuf;

use tempfile::NamedTempFile;

use super::{Fail, Gpus};
use crate::app::{App, HardwareSource, Need, Planned};
use crate::diagnostic::{Diagnostic, display_path, io_reason};
use crate::manifest::Overrides;
use crate::model::Resolved;
use crate::plan::{Kind, Plan, Settings};

/// Drafts checked in memory, as the file at `path` would load and plan: the
/// GPUs and the model are read once for all of them, by one [`App`].
pub(super) struct Drafts {
    pub(super) app: App,
    pub(super) path: PathBuf,
    /// Where the final text is written, then renamed to `path`: made first,
    /// so an unwritable directory fails before any planning.
    pub(super) file: Option<NamedTempFile>,
    pub(super) need: Need,
    /// The model `init` resolved itself, recorded for the first draft's model
    /// section so it is not read again.
    pub(super) resolved: Option<Resolved>,
}

/// One draft, loaded and planned.
pub(super) struct Checked {
    pub(super) planned: Option<Planned>,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub(super) fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub(super) fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| !d.is_error()).count()
    }

    pub(super) fn plan(&self) -> Option<&Plan> {
        self.planned.as_ref().and_then(|p| p.outcome.plan.as_ref())
    }

    /// The plan and how many warnings came with it, when it fits.
    pub(super) fn fitting(&self) -> Option<(Plan, usize)> {
        self.plan()
            .filter(|_| self.errors().next().is_none())
            .map(|p| (p.clone(), self.warnings()))
    }
}

impl Drafts {
    pub(super) fn new(path: PathBuf, to_file: bool, gpus: &Gpus) -> Result<Self, Fail> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file = to_file
            .then(|| {
                tempfile::Builder::new()
                    .prefix(".deployctl-init-")
                    .suffix(".tmp")
                    .tempfile_in(&dir)
                    .map_err(|e| {
                        Fail::invalid(format!(
                            "error: cannot write in `{}`: {}\n",
                            display_path(&dir),
                            io_reason(&e)
                        ))
                    })
            })
            .transpose()?;
        let need = match gpus {
            Gpus::Unknown => Need::IfKnown,
            Gpus::Spec(..) | Gpus::Live(_) => Need::Required,
        };
        Ok(Drafts {
            app: App::new(
                HardwareSource::read_already(gpus.inventory().cloned()),
                Settings::default(),
            ),
            path,
            file,
            need,
            resolved: None,
        })
    }

    /// Loads and plans `text` as `plan` would plan it at `self.path`, without
    /// the environment's overrides: the file must plan on its own.
    pub(super) fn check(&mut self, text: &str) -> Result<Checked, Fail> {
        let outcome = self
            .app
            .loader()
            .load_str(&self.path, text, &Overrides::default());
        self.planned(outcome)
    }

    pub(super) fn planned(
        &mut self,
        outcome: crate::manifest::LoadOutcome,
    ) -> Result<Checked, Fail> {
        let mut diagnostics = outcome.diagnostics;
        let (Some(loaded), Some(manifest)) = (outcome.loaded, outcome.manifest) else {
            return Err(internal(&diagnostics));
        };
        if let Some(resolved) = self.resolved.take() {
            self.app.models().remember(&manifest.model, resolved);
        }
        let planned = self
            .app
            .plan(&loaded, &manifest, self.need, &mut diagnostics);
        Ok(Checked {
            planned,
            diagnostics,
        })
    }

    /// Writes `text` beside the target, loads that file back as `validate`
    /// would, and renames it into place only when it plans as the draft did:
    /// readers see the old file or the new one, never half of one.
    pub(super) fn write(
        &mut self,
        text: &str,
        planned: &Checked,
        force: bool,
    ) -> Result<Checked, Fail> {
        let path = self.path.clone();
        let shown = display_path(&path);
        let cannot = |e: &std::io::Error| {
            Fail::invalid(format!("error: cannot write `{shown}`: {}\n", io_reason(e)))
        };
        let Some(mut file) = self.file.take() else {
            return Err(Fail::invalid(
                "error: the manifest was written already; this is a bug in deployctl\n",
            ));
        };
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| cannot(&e))?;
        let outcome = self.app.loader().load(file.path(), &Overrides::default());
        let written = self.planned(outcome)?;
        let as_json = |c: &Checked| c.plan().map(|p| serde_json::to_value(p).ok());
        if as_json(&written) != as_json(planned)
            || written.errors().count() != planned.errors().count()
        {
            return Err(internal(&written.diagnostics));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // A manifest is not a secret: the usual mode, not the temporary file's 0600.
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode())
                .unwrap_or(0o644);
            let _ = std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode));
        }
        let result = if force {
            file.persist(&path)
        } else {
            file.persist_noclobber(&path)
        };
        result.map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Fail::usage(format!(
                    "error: `{shown}` exists; pass --force to overwrite it\n"
                ))
            } else {
                cannot(&e.error)
            }
        })?;
        Ok(written)
    }
}

/// A draft that does not load is a bug here, not the user's.
pub(super) fn internal(diagnostics: &[Diagnostic]) -> Fail {
    let mut text = String::from(
        "error: the manifest drafted for this model does not validate; this is a bug in deployctl\n",
    );
    for d in diagnostics.iter().filter(|d| d.is_error()) {
        let _ = writeln!(text, "  - {}", d.message);
    }
    Fail::invalid(text)
}

/// Whether two plans put the same layers on the same GPUs.
pub(super) fn same_layout(a: &Plan, b: &Plan) -> bool {
    a.strategy == b.strategy
        && a.cpu.as_ref().map(|c| &c.layers) == b.cpu.as_ref().map(|c| &c.layers)
        && a.devices.len() == b.devices.len()
        && a.devices
            .iter()
            .zip(&b.devices)
            .all(|(x, y)| x.index == y.index && x.layers == y.layers)
}

/// `tensor parallel ×4 over GPU 0, 1, 2, 3`.
pub(super) fn layout_name(plan: &Plan) -> String {
    let gpus = plan
        .devices
        .iter()
        .map(|d| d.index.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match plan.strategy {
        Kind::Single => format!("one GPU (GPU {gpus})"),
        Kind::Tensor { size } => format!("tensor parallel ×{size} over GPU {gpus}"),
        Kind::Pipeline => format!("a pipeline over GPU {gpus}"),
        Kind::Manual => format!("a layer map over GPU {gpus}"),
        Kind::Cpu => "the CPU".to_owned(),
    }
}
