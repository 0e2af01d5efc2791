//! Recorded inventories: the TOML that `deployctl gpus --record` writes, so a
//! plan can be made anywhere against a real box.

use std::path::Path;

use serde::Deserialize;

use super::gpu::{Gpu, GpuProcess, Inventory, InventorySource, Link, LinkKind};
use crate::diagnostic::display_path;
use crate::units::{ByteSize, ComputeCapability, SizeError, parse_size};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    gpu: Vec<RawGpu>,
    #[serde(default)]
    link: Vec<RawLink>,
}

/// `[[link]] a = 0, b = 1, kind = "nvlink", lanes = 18`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    a: u32,
    b: u32,
    kind: LinkKind,
    #[serde(default)]
    lanes: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpu {
    index: u32,
    uuid: Option<String>,
    name: String,
    memory_total: Size,
    #[serde(default)]
    memory_used: Option<Size>,
    compute_capability: Option<String>,
    /// NVML's MIG mode.
    #[serde(default)]
    mig: bool,
    #[serde(default)]
    process: Vec<RawProcess>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    pid: u32,
    name: String,
    memory: Size,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn bytes(&self) -> Result<ByteSize, GpuEntryError> {
        match self {
            Size::Bytes(n) => Ok(ByteSize(*n)),
            Size::Text(t) => parse_size(t).map_err(|source| GpuEntryError::Size {
                text: t.clone(),
                source,
            }),
        }
    }
}

/// Why an inventory file does not read. Errors say file, line and what is
/// wrong; `shown` is the file as messages show it.
#[derive(Debug, thiserror::Error)]
pub enum InventoryFileError {
    #[error("cannot read `{shown}`: {}", crate::diagnostic::io_reason(.source))]
    Unreadable {
        shown: String,
        source: std::io::Error,
    },
    /// Not TOML, or not an inventory's keys: the parser's message.
    #[error("{shown}:{line}: {message}")]
    Syntax {
        shown: String,
        line: usize,
        message: String,
    },
    #[error("{shown} lists no `[[gpu]]`")]
    NoGpus { shown: String },
    /// What is wrong with the `[[gpu]]` of NVML index `index`.
    #[error("{shown}: GPU {index}: {source}")]
    Gpu {
        shown: String,
        index: u32,
        source: GpuEntryError,
    },
    #[error("{shown}: a link names GPU {end}, which is not listed")]
    LinkToUnlisted { shown: String, end: u32 },
}

/// What is wrong with one `[[gpu]]` of an inventory file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuEntryError {
    #[error("`{text}` is not MAJOR.MINOR")]
    Capability { text: String },
    #[error("`{text}` {source}")]
    Size { text: String, source: SizeError },
    #[error("memory_used {used} exceeds memory_total {total}")]
    UsedExceedsTotal { used: ByteSize, total: ByteSize },
    #[error("index listed twice")]
    DuplicateIndex,
}

/// Reads an inventory file. Errors say file, line and what is wrong.
pub fn read(path: &Path) -> Result<Inventory, InventoryFileError> {
    let shown = display_path(path);
    let text = crate::files::read_text(path, crate::files::cap::INVENTORY).map_err(|source| {
        InventoryFileError::Unreadable {
            shown: shown.clone(),
            source,
        }
    })?;
    let file: File = toml::from_str(&text).map_err(|e| InventoryFileError::Syntax {
        shown: shown.clone(),
        line: e
            .span()
            .map(|s| text[..s.start].matches('\n').count() + 1)
            .unwrap_or(1),
        message: e.message().to_owned(),
    })?;
    if file.gpu.is_empty() {
        return Err(InventoryFileError::NoGpus { shown });
    }
    let mut gpus = Vec::new();
    for raw in file.gpu {
        let at = |source: GpuEntryError| InventoryFileError::Gpu {
            shown: shown.clone(),
            index: raw.index,
            source,
        };
        let compute_capability = raw
            .compute_capability
            .as_ref()
            .map(|text| {
                ComputeCapability::parse(text)
                    .ok_or_else(|| at(GpuEntryError::Capability { text: text.clone() }))
            })
            .transpose()?;
        let processes = raw
            .process
            .iter()
            .map(|p| {
                Ok(GpuProcess {
                    pid: p.pid,
                    name: p.name.clone(),
                    memory: p.memory.bytes().map_err(&at)?,
                })
            })
            .collect::<Result<Vec<_>, InventoryFileError>>()?;
        let total = raw.memory_total.bytes().map_err(&at)?;
        let used = match &raw.memory_used {
            Some(size) => size.bytes().map_err(&at)?,
            None => ByteSize(processes.iter().map(|p| p.memory.0).sum()),
        };
        if used > total {
            return Err(at(GpuEntryError::UsedExceedsTotal { used, total }));
        }
        if gpus.iter().any(|g: &Gpu| g.index == raw.index) {
            return Err(at(GpuEntryError::DuplicateIndex));
        }
        gpus.push(Gpu {
            index: raw.index,
            uuid: raw.uuid,
            name: raw.name,
            memory_total: total,
            memory_used: used,
            compute_capability,
            mig: raw.mig,
            processes,
        });
    }
    gpus.sort_by_key(|g| g.index);
    let mut links = Vec::new();
    for l in file.link {
        for end in [l.a, l.b] {
            if !gpus.iter().any(|g| g.index == end) {
                return Err(InventoryFileError::LinkToUnlisted { shown, end });
            }
        }
        links.push(Link {
            a: l.a,
            b: l.b,
            kind: l.kind,
            lanes: l.lanes,
        });
    }
    Ok(Inventory {
        source: InventorySource::File { path: shown },
        gpus,
        links,
    })
}
