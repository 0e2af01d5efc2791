//! The live machine, through NVML (`libnvidia-ml.so`, loaded at run time, so
//! the binary builds and runs where no NVIDIA driver is installed).

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TopologyLevel;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;

use super::gpu::{Gpu, GpuProcess, Inventory, InventorySource, Link, LinkKind};
use crate::units::{ByteSize, ComputeCapability};

/// Why there is no live inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// No NVIDIA driver (or no NVML library) on this machine: a normal state for
    /// CI and laptops.
    NoDriver(String),
    /// NVML is there but failed.
    Failed(String),
}

/// Reads every GPU NVML reports, in NVML index order, with its processes and
/// the link between each pair.
pub fn read() -> Result<Inventory, Unavailable> {
    let nvml = Nvml::init().map_err(|e| match e {
        NvmlError::LibloadingError(_) | NvmlError::DriverNotLoaded | NvmlError::LibraryNotFound => {
            Unavailable::NoDriver(e.to_string())
        }
        other => Unavailable::Failed(other.to_string()),
    })?;
    let failed = |e: NvmlError| Unavailable::Failed(e.to_string());
    let count = nvml.device_count().map_err(failed)?;
    let mut gpus = Vec::new();
    let mut bus_ids = Vec::new();
    for index in 0..count {
        let device = nvml.device_by_index(index).map_err(failed)?;
        let memory = device.memory_info().map_err(failed)?;
        let processes = device
            .running_compute_processes()
            .unwrap_or_default()
            .into_iter()
            .map(|p| GpuProcess {
                pid: p.pid,
                name: process_name(p.pid),
                memory: ByteSize(match p.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => bytes,
                    UsedGpuMemory::Unavailable => 0,
                }),
            })
            .collect();
        let capability = device
            .cuda_compute_capability()
            .ok()
            .map(|c| ComputeCapability {
                major: c.major as u32,
                minor: c.minor as u32,
            });
        bus_ids.push(device.pci_info().map(|p| p.bus_id).unwrap_or_default());
        gpus.push(Gpu {
            index,
            uuid: device.uuid().ok(),
            name: device
                .name()
                .unwrap_or_else(|_| "unknown NVIDIA GPU".into()),
            memory_total: ByteSize(memory.total),
            memory_used: ByteSize(memory.used),
            compute_capability: capability,
            mig: device.mig_mode().is_ok_and(|m| m.current == 1),
            processes,
        });
    }
    let mut links = Vec::new();
    for a in 0..count {
        let Ok(da) = nvml.device_by_index(a) else {
            continue;
        };
        // NVLink lanes from `a`, by the bus id of the GPU at their far end.
        let mut lanes = vec![0u32; count as usize];
        for lane in 0..18 {
            let link = da.link_wrapper_for(lane);
            if link.is_active().unwrap_or(false) {
                if let Ok(remote) = link.remote_pci_info() {
                    if let Some(b) = bus_ids.iter().position(|id| *id == remote.bus_id) {
                        lanes[b] += 1;
                    }
                }
            }
        }
        for b in (a + 1)..count {
            let kind = if lanes[b as usize] > 0 {
                Some(LinkKind::Nvlink)
            } else {
                nvml.device_by_index(b)
                    .ok()
                    .and_then(|db| da.topology_common_ancestor(db).ok())
                    .map(|level| match level {
                        TopologyLevel::Internal
                        | TopologyLevel::Single
                        | TopologyLevel::Multiple => LinkKind::PcieSwitch,
                        TopologyLevel::HostBridge => LinkKind::HostBridge,
                        TopologyLevel::Node => LinkKind::SameSocket,
                        TopologyLevel::System => LinkKind::CrossSocket,
                    })
            };
            if let Some(kind) = kind {
                links.push(Link {
                    a,
                    b,
                    kind,
                    lanes: lanes[b as usize],
                });
            }
        }
    }
    Ok(Inventory {
        source: InventorySource::Live,
        gpus,
        links,
    })
}

/// The command line of a process, as the OS reports it (`/proc/PID/cmdline`),
/// shortened; its name alone when the command line is unreadable.
fn process_name(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty());
    let name = cmdline.or_else(|| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.trim().to_owned())
    });
    match name {
        Some(n) if n.chars().count() > 60 => format!("{}…", n.chars().take(59).collect::<String>()),
        Some(n) => n,
        None => format!("pid {pid}"),
    }
}
