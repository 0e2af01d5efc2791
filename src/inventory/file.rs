//! Recorded inventories: the TOML that `deployctl gpus --record` writes, so a
//! plan can be made anywhere against a real box.

use std::path::Path;

use serde::Deserialize;

use super::gpu::{Gpu, GpuProcess, Inventory, InventorySource, Link, LinkKind};
use crate::diagnostic::display_path;
use crate::units::{ByteSize, ComputeCapability, parse_size};

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
    fn bytes(&self) -> Result<ByteSize, String> {
        match self {
            Size::Bytes(n) => Ok(ByteSize(*n)),
            Size::Text(t) => parse_size(t).map_err(|e| format!("`{t}` {e}")),
        }
    }
}

/// Reads an inventory file. Errors say file, line and what is wrong.
pub fn read(path: &Path) -> Result<Inventory, String> {
    let shown = display_path(path);
    let text = crate::files::read_text(path, crate::files::cap::INVENTORY).map_err(|e| {
        format!(
            "cannot read `{shown}`: {}",
            crate::diagnostic::io_reason(&e)
        )
    })?;
    let file: File = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].matches('\n').count() + 1)
            .unwrap_or(1);
        format!("{shown}:{line}: {}", e.message())
    })?;
    if file.gpu.is_empty() {
        return Err(format!("{shown} lists no `[[gpu]]`"));
    }
    let mut gpus = Vec::new();
    for raw in file.gpu {
        let at = |what: String| format!("{shown}: GPU {}: {what}", raw.index);
        let compute_capability = match &raw.compute_capability {
            Some(text) => {
                let (major, minor) = text
                    .split_once('.')
                    .ok_or_else(|| at(format!("`{text}` is not MAJOR.MINOR")))?;
                Some(ComputeCapability {
                    major: major
                        .parse()
                        .map_err(|_| at(format!("`{text}` is not MAJOR.MINOR")))?,
                    minor: minor
                        .parse()
                        .map_err(|_| at(format!("`{text}` is not MAJOR.MINOR")))?,
                })
            }
            None => None,
        };
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
            .collect::<Result<Vec<_>, String>>()?;
        let total = raw.memory_total.bytes().map_err(&at)?;
        let used = match &raw.memory_used {
            Some(size) => size.bytes().map_err(&at)?,
            None => ByteSize(processes.iter().map(|p| p.memory.0).sum()),
        };
        if used > total {
            return Err(at(format!(
                "memory_used {used} exceeds memory_total {total}"
            )));
        }
        if gpus.iter().any(|g: &Gpu| g.index == raw.index) {
            return Err(at("index listed twice".into()));
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
                return Err(format!(
                    "{shown}: a link names GPU {end}, which is not listed"
                ));
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
