//! The GPUs a plan may use and each one's limit:
//! `min(max_memory, total − reserve, free − reserve)`.

use serde::Serialize;

use super::finding::Finding;
use crate::diagnostic::Code;
use crate::inventory::{Gpu, Inventory};
use crate::manifest::{self, Limit, Manifest, MemoryLimit};
use crate::units::ByteSize;

/// A GPU selected for the deployment, with its budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub gpu: Gpu,
    /// Position in `devices.gpus` (or in the inventory when `gpus` is unset),
    /// which is also the CUDA ordinal once `CUDA_VISIBLE_DEVICES` lists them.
    pub position: usize,
    pub limit: ByteSize,
    pub limited_by: LimitedBy,
}

/// Which bound set a device's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitedBy {
    /// `devices.max_memory`.
    MaxMemory,
    /// The GPU's memory minus `reserve`.
    Physical,
    /// Free memory (other processes hold some) minus `reserve`.
    Free,
}

/// Selects the manifest's GPUs from the inventory and computes their limits.
pub fn select(
    manifest: &Manifest,
    inventory: &Inventory,
    findings: &mut Vec<Finding>,
) -> Option<Vec<Device>> {
    let gpus: Vec<Gpu> = match &manifest.devices.gpus {
        // CUDA cannot use a MIG-mode GPU whole; only an explicit listing (which
        // preflight then rejects with the reason) takes one.
        None => inventory.gpus.iter().filter(|g| !g.mig).cloned().collect(),
        Some(wanted) => {
            let mut found = Vec::new();
            for (i, want) in wanted.iter().enumerate() {
                let hit = inventory.gpus.iter().find(|g| match want {
                    manifest::Gpu::Ordinal(n) => g.index == *n,
                    manifest::Gpu::Uuid(id) => g
                        .uuid
                        .as_deref()
                        .is_some_and(|u| u.starts_with(id.as_str())),
                });
                match hit {
                    Some(g) => found.push(g.clone()),
                    None => findings.push(
                        Finding::error(
                            Code::GpuNotFound,
                            format!("{} is not in the {}", want.describe(), inventory.source),
                        )
                        .help(format!(
                            "the GPUs there are {}",
                            inventory
                                .gpus
                                .iter()
                                .map(|g| g.label())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                        .at(&format!("devices.gpus.{i}")),
                    ),
                }
            }
            if found.len() != wanted.len() {
                return None;
            }
            found
        }
    };
    let reserve = manifest.devices.reserve;
    let mut devices = Vec::new();
    for (position, gpu) in gpus.into_iter().enumerate() {
        let physical = ByteSize(gpu.memory_total.0.saturating_sub(reserve.0));
        let free = ByteSize(gpu.memory_free().0.saturating_sub(reserve.0));
        let (key, requested) = match &manifest.devices.max_memory {
            None => (None, None),
            Some(MemoryLimit::Each(l)) => (Some("devices.max_memory".to_owned()), Some(*l)),
            Some(MemoryLimit::PerGpu(list)) => (
                Some(format!("devices.max_memory.{position}")),
                list.get(position).copied(),
            ),
        };
        let requested = requested.map(|l| match l {
            Limit::Bytes(b) => b,
            Limit::Share(p) => p.of(gpu.memory_total),
        });
        if let (Some(asked), Some(key)) = (requested, &key) {
            if asked > physical {
                findings.push(
                    Finding::warning(
                        Code::LimitAbovePhysical,
                        format!(
                            "limit {asked} for {} is more than it has: {} total − {reserve} reserve = {physical}",
                            gpu.label(),
                            gpu.memory_total
                        ),
                    )
                    .help(format!("the plan uses {physical}; lower `max_memory` to at most that"))
                    .at(key),
                );
            }
        }
        let mut limit = (physical, LimitedBy::Physical);
        if let Some(asked) = requested {
            if asked < limit.0 {
                limit = (asked, LimitedBy::MaxMemory);
            }
        }
        if free < limit.0 {
            limit = (free, LimitedBy::Free);
        }
        devices.push(Device {
            gpu,
            position,
            limit: limit.0,
            limited_by: limit.1,
        });
    }
    Some(devices)
}
