//! A GPU as the planner sees it.

use serde::Serialize;

use crate::units::{ByteSize, ComputeCapability};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    /// The CUDA ordinal the runtime will see (NVML index on a live machine).
    pub index: u32,
    pub uuid: Option<String>,
    pub name: String,
    pub memory_total: ByteSize,
    /// Memory other processes already hold.
    pub memory_used: ByteSize,
    pub compute_capability: Option<ComputeCapability>,
    /// MIG mode is on: CUDA sees the GPU's MIG instances, not the GPU.
    pub mig: bool,
    pub processes: Vec<GpuProcess>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuProcess {
    pub pid: u32,
    pub name: String,
    pub memory: ByteSize,
}

impl Gpu {
    pub fn memory_free(&self) -> ByteSize {
        ByteSize(self.memory_total.0.saturating_sub(self.memory_used.0))
    }

    /// `GPU 1 (NVIDIA GeForce RTX 4090)`.
    pub fn label(&self) -> String {
        format!("GPU {} ({})", self.index, self.name)
    }
}

/// Where the GPUs were taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InventorySource {
    /// `--inventory FILE`.
    File { path: String },
    /// `--gpus SPEC`.
    Spec { spec: String },
    /// The manifest's `[devices.expect]`.
    Expected,
    /// `hosts/HOST.toml`, the inventory of the host `devices.expect.host` names.
    Host { host: String, path: String },
    /// The live machine, through NVML.
    Live,
    /// `devices.gpus = []`: no GPU at all.
    CpuOnly,
}

impl std::fmt::Display for InventorySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InventorySource::File { path } => write!(f, "inventory file {path}"),
            InventorySource::Spec { spec } => write!(f, "--gpus {spec}"),
            InventorySource::Expected => f.write_str("[devices.expect] in the manifest"),
            InventorySource::Host { host, path } => write!(f, "host {host} ({path})"),
            InventorySource::Live => f.write_str("this machine (NVML)"),
            InventorySource::CpuOnly => f.write_str("none: `devices.gpus = []` runs on the CPU"),
        }
    }
}

/// How two GPUs reach each other, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// NVLink lanes between the two.
    Nvlink,
    /// Through PCIe switches, without the host bridge.
    PcieSwitch,
    /// Through one PCIe host bridge.
    HostBridge,
    /// Through the CPU of one socket (NUMA node).
    SameSocket,
    /// Across sockets (the inter-CPU link).
    CrossSocket,
}

impl LinkKind {
    /// The inventory file's spelling (`"pcie-switch"`).
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Nvlink => "nvlink",
            LinkKind::PcieSwitch => "pcie-switch",
            LinkKind::HostBridge => "host-bridge",
            LinkKind::SameSocket => "same-socket",
            LinkKind::CrossSocket => "cross-socket",
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            LinkKind::Nvlink => "NV",
            LinkKind::PcieSwitch => "PIX",
            LinkKind::HostBridge => "PHB",
            LinkKind::SameSocket => "NODE",
            LinkKind::CrossSocket => "SYS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub a: u32,
    pub b: u32,
    pub kind: LinkKind,
    /// NVLink lanes, for `Nvlink`.
    pub lanes: u32,
}

/// The GPUs of one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    pub source: InventorySource,
    pub gpus: Vec<Gpu>,
    /// How each pair is connected, when known.
    pub links: Vec<Link>,
}

impl Inventory {
    /// `4 × 24 GiB`, `2 × NVIDIA A100-SXM4-80GB (80 GiB)`: runs of equal GPUs,
    /// joined by `+`; MIG-enabled parents are left out.
    pub fn describe(&self) -> String {
        let mut runs: Vec<(usize, &str, ByteSize)> = Vec::new();
        for g in self.gpus.iter().filter(|g| !g.mig) {
            match runs.last_mut() {
                Some((n, name, memory)) if *name == g.name && *memory == g.memory_total => *n += 1,
                _ => runs.push((1, &g.name, g.memory_total)),
            }
        }
        if runs.is_empty() {
            return "no GPUs".to_owned();
        }
        runs.iter()
            .map(|(n, name, memory)| {
                // `--gpus 24GiB` names its GPUs after the size: say the size once.
                let unnamed = name
                    .strip_suffix(" GPU")
                    .is_some_and(|size| crate::units::parse_size(size).is_ok());
                if unnamed {
                    format!("{n} × {memory}")
                } else {
                    format!("{n} × {name} ({memory})")
                }
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    pub fn new(source: InventorySource, gpus: Vec<Gpu>) -> Self {
        Inventory {
            source,
            gpus,
            links: Vec::new(),
        }
    }

    /// The link between two GPUs (by index), when known.
    pub fn link(&self, a: u32, b: u32) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| (l.a == a && l.b == b) || (l.a == b && l.b == a))
    }
}
