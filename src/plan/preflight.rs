//! Checks of a plan against the machine it will run on, before anything loads:
//! the expected hardware, GPUs other processes fill, GPUs `CUDA_VISIBLE_DEVICES`
//! hides, features the GPUs lack, and GPU sets that talk across sockets when a
//! better-connected set exists.

use super::devices::Device;
use super::finding::Finding;
use super::{Kind, Plan};
use crate::diagnostic::Code;
use crate::inventory::visible::VisibleDevices;
use crate::inventory::{Inventory, InventorySource, LinkKind};
use crate::manifest::{self, Manifest};
use crate::units::ByteSize;

pub(super) struct Context<'a> {
    pub manifest: &'a Manifest,
    pub inventory: &'a Inventory,
    /// What `CUDA_VISIBLE_DEVICES` shows this process, on a live machine.
    pub visible: Option<&'a VisibleDevices>,
    pub flash_attention: bool,
}

pub(super) fn check(cx: &Context<'_>, devices: &[Device], plan: &Plan) -> Vec<Finding> {
    let mut out = Vec::new();
    expectation(cx, &mut out);
    hidden(cx, &mut out);
    busy(cx, devices, plan, &mut out);
    for d in devices.iter().filter(|d| d.gpu.mig) {
        if plan.devices.iter().any(|p| p.index == d.gpu.index) {
            out.push(
                Finding::error(
                    Code::MigEnabled,
                    format!(
                        "{} is in MIG mode: CUDA shows its MIG instances, not the whole GPU, and mistral.rs cannot span them",
                        d.gpu.label()
                    ),
                )
                .help("plan on GPUs with MIG off (`nvidia-smi -i N -mig 0` as root, then reset the GPU), or list other GPUs in `devices.gpus`")
                .at(if cx.manifest.devices.gpus.is_some() { "devices.gpus" } else { "devices" }),
            );
        }
    }
    if cx.flash_attention {
        for d in devices {
            if let Some(c) = d.gpu.compute_capability.filter(|c| c.major < 8) {
                out.push(
                    Finding::error(
                        Code::FlashAttentionUnsupported,
                        format!(
                            "flash attention needs compute capability 8.0, but {} has {c}",
                            d.gpu.label()
                        ),
                    )
                    .help("plan and build without flash attention for this GPU")
                    .at("devices"),
                );
            }
        }
    }
    topology(cx, plan, &mut out);
    out
}

fn expectation(cx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(expect) = &cx.manifest.devices.expect else {
        return;
    };
    if cx.inventory.source == InventorySource::Expected {
        return; // the inventory is the expectation itself
    }
    let gpus = &cx.inventory.gpus;
    if let Some(count) = expect.count {
        if gpus.len() < count as usize {
            out.push(
                Finding::error(
                    Code::ExpectationNotMet,
                    format!("the manifest expects {count} GPUs, but the {} has {}", cx.inventory.source, gpus.len()),
                )
                .help("deploy on the machine the manifest is written for, or update `[devices.expect]`")
                .at("devices.expect.count"),
            );
        }
    }
    if let Some(memory) = expect.memory {
        // Cards report a little less than their marketed size; allow 3 %.
        for g in gpus
            .iter()
            .filter(|g| g.memory_total.0 < memory.0 - memory.0 / 33)
        {
            out.push(
                Finding::error(
                    Code::ExpectationNotMet,
                    format!("the manifest expects {memory} per GPU, but {} has {}", g.label(), g.memory_total),
                )
                .help("deploy on the machine the manifest is written for, or update `devices.expect.memory`")
                .at("devices.expect.memory"),
            );
        }
    }
    if let Some(min) = expect.min_compute_capability {
        for g in gpus {
            if let Some(c) = g.compute_capability.filter(|c| *c < min) {
                out.push(
                    Finding::error(
                        Code::ExpectationNotMet,
                        format!("the manifest expects compute capability {min} or newer, but {} has {c}", g.label()),
                    )
                    .help("deploy on newer GPUs, or lower `min_compute_capability` (and check `dtype`)")
                    .at("devices.expect.min_compute_capability"),
                );
            }
        }
    }
}

fn hidden(cx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(visible) = cx.visible.filter(|v| v.set) else {
        return;
    };
    let Some(wanted) = &cx.manifest.devices.gpus else {
        return;
    };
    for (i, want) in wanted.iter().enumerate() {
        let gpu = cx.inventory.gpus.iter().find(|g| match want {
            manifest::Gpu::Ordinal(n) => g.index == *n,
            manifest::Gpu::Uuid(id) => g
                .uuid
                .as_deref()
                .is_some_and(|u| u.starts_with(id.as_str())),
        });
        let Some(gpu) = gpu else { continue };
        if visible.ordinal_of(gpu.index).is_none() {
            let why = match &visible.stopped {
                Some(stop) => format!(
                    "; its entry `{}` {}, which hides the entries after it",
                    stop.entry, stop.reason
                ),
                None => String::new(),
            };
            out.push(
                Finding::error(
                    Code::GpuHidden,
                    format!("{} is hidden from this process by CUDA_VISIBLE_DEVICES{why}", gpu.label()),
                )
                .help("include it in CUDA_VISIBLE_DEVICES (by index or UUID), or choose a visible GPU")
                .at(&format!("devices.gpus.{i}")),
            );
        }
    }
}

fn busy(cx: &Context<'_>, devices: &[Device], plan: &Plan, out: &mut Vec<Finding>) {
    let reserve = cx.manifest.devices.reserve;
    let planned: Vec<u32> = plan.devices.iter().map(|d| d.index).collect();
    for d in &plan.devices {
        let Some(device) = devices.iter().find(|x| x.gpu.index == d.index) else {
            continue;
        };
        let gpu = &device.gpu;
        let free = gpu.memory_free();
        if gpu.processes.is_empty() || ByteSize(d.total.0 + reserve.0) <= free {
            continue;
        }
        let holders: Vec<String> = gpu
            .processes
            .iter()
            .map(|p| format!("pid {} `{}` ({} MiB)", p.pid, p.name, p.memory.0 >> 20))
            .collect();
        let alternatives: Vec<String> = cx
            .inventory
            .gpus
            .iter()
            .filter(|g| !planned.contains(&g.index) && g.memory_free().0 >= d.total.0 + reserve.0)
            .map(|g| g.label())
            .collect();
        let help = if alternatives.is_empty() {
            "stop those processes, or lower the plan (shorter context, smaller batch, quantization)"
                .to_owned()
        } else {
            format!(
                "these GPUs are free enough: {}; list one in `devices.gpus`",
                alternatives.join(", ")
            )
        };
        out.push(
            Finding::error(
                Code::GpuBusy,
                format!(
                    "{} has {} free but the plan needs {} on it (plus {reserve} reserve); other processes hold it: {}",
                    gpu.label(),
                    free,
                    d.total,
                    holders.join(", ")
                ),
            )
            .help(help)
            .at(if cx.manifest.devices.gpus.is_some() { "devices.gpus" } else { "devices" }),
        );
    }
}

/// The worst link inside a group of GPUs.
fn worst_link(inventory: &Inventory, group: &[u32]) -> Option<LinkKind> {
    let mut worst = None;
    for (i, a) in group.iter().enumerate() {
        for b in &group[i + 1..] {
            let kind = inventory.link(*a, *b)?.kind;
            worst = Some(worst.map_or(kind, |w: LinkKind| w.max(kind)));
        }
    }
    worst
}

fn topology(cx: &Context<'_>, plan: &Plan, out: &mut Vec<Finding>) {
    if cx.inventory.links.is_empty() || plan.devices.len() < 2 {
        return;
    }
    let group: Vec<u32> = plan.devices.iter().map(|d| d.index).collect();
    // Only pipeline neighbours talk under a pipeline; every rank talks to every
    // other under tensor parallelism.
    let worst = match plan.strategy {
        Kind::Tensor { .. } => worst_link(cx.inventory, &group),
        _ => group
            .windows(2)
            .filter_map(|w| worst_link(cx.inventory, w))
            .max(),
    };
    if worst != Some(LinkKind::CrossSocket) {
        return;
    }
    // Is there a same-size set with no cross-socket hop?
    let all: Vec<u32> = cx.inventory.gpus.iter().map(|g| g.index).collect();
    let better = subsets(&all, group.len())
        .into_iter()
        .find(|s| worst_link(cx.inventory, s).is_some_and(|k| k < LinkKind::CrossSocket));
    if let Some(better) = better {
        let list = |g: &[u32]| {
            g.iter()
                .map(|i| format!("GPU {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push(
            Finding::warning(
                Code::PoorTopology,
                format!(
                    "{} talk across CPU sockets without NVLink; {} are connected better",
                    list(&group),
                    list(&better)
                ),
            )
            .help(format!("list {} in `devices.gpus`", list(&better)))
            .at(if cx.manifest.devices.gpus.is_some() {
                "devices.gpus"
            } else {
                "devices"
            }),
        );
    }
}

/// Every `k`-element subset of `items`, in order (small inputs: one machine's GPUs).
fn subsets(items: &[u32], k: usize) -> Vec<Vec<u32>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    if items.len() < k {
        return Vec::new();
    }
    let mut out: Vec<Vec<u32>> = subsets(&items[1..], k - 1)
        .into_iter()
        .map(|mut s| {
            s.insert(0, items[0]);
            s
        })
        .collect();
    out.extend(subsets(&items[1..], k));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumerates_subsets_in_order() {
        assert_eq!(
            subsets(&[0, 1, 2], 2),
            vec![vec![0, 1], vec![0, 2], vec![1, 2]]
        );
        assert_eq!(subsets(&[0, 1], 3), Vec::<Vec<u32>>::new());
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;
    use crate::inventory::visible;
    use crate::inventory::{Gpu, GpuProcess, Link};
    use crate::manifest::{Devices as ManifestDevices, ExpectedHardware};
    use crate::units::ComputeCapability;

    fn gpu(index: u32, gib: u64, cc: u32) -> Gpu {
        Gpu {
            index,
            uuid: Some(format!("GPU-{index:08}")),
            name: "test GPU".into(),
            memory_total: ByteSize::gib(gib),
            memory_used: ByteSize(0),
            compute_capability: Some(ComputeCapability {
                major: cc / 10,
                minor: cc % 10,
            }),
            mig: false,
            processes: Vec::new(),
        }
    }

    fn manifest(devices: ManifestDevices) -> Manifest {
        let text = "version = 1\n[model]\nsource = \"a/b\"\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        let mut m = crate::manifest::Loader::new()
            .load(&path, &Default::default())
            .manifest
            .unwrap();
        m.devices = devices;
        m
    }

    fn devices(
        gpus: Option<Vec<manifest::Gpu>>,
        expect: Option<ExpectedHardware>,
    ) -> ManifestDevices {
        ManifestDevices {
            gpus,
            max_memory: None,
            reserve: ByteSize::mib(512),
            cpu_offload: false,
            expect,
        }
    }

    fn inventory(gpus: Vec<Gpu>) -> Inventory {
        Inventory::new(InventorySource::Live, gpus)
    }

    #[test]
    fn expectations_are_checked_against_the_real_machine() {
        let m = manifest(devices(
            None,
            Some(ExpectedHardware {
                host: None,
                count: Some(4),
                memory: Some(ByteSize::gib(80)),
                min_compute_capability: Some(ComputeCapability { major: 8, minor: 0 }),
            }),
        ));
        let inv = inventory(vec![gpu(0, 80, 90), gpu(1, 24, 75)]);
        let cx = Context {
            manifest: &m,
            inventory: &inv,
            visible: None,
            flash_attention: false,
        };
        let mut out = Vec::new();
        expectation(&cx, &mut out);
        let messages: Vec<&str> = out.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(out.len(), 3, "{messages:?}");
        assert!(messages[0].contains("expects 4 GPUs"));
        assert!(messages[1].contains("GPU 1"));
        assert!(messages[2].contains("7.5"));
        // A recorded `[devices.expect]` inventory is the expectation: nothing to check.
        let expected = Inventory::new(InventorySource::Expected, vec![gpu(0, 1, 10)]);
        let cx = Context {
            inventory: &expected,
            ..cx
        };
        let mut out = Vec::new();
        expectation(&cx, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn gpus_hidden_by_cuda_visible_devices_are_errors() {
        let m = manifest(devices(
            Some(vec![manifest::Gpu::Ordinal(0), manifest::Gpu::Ordinal(2)]),
            None,
        ));
        let inv = inventory(vec![gpu(0, 24, 89), gpu(1, 24, 89), gpu(2, 24, 89)]);
        let shown = visible::parse(Some("0,7,2"), &inv.gpus);
        let cx = Context {
            manifest: &m,
            inventory: &inv,
            visible: Some(&shown),
            flash_attention: false,
        };
        let mut out = Vec::new();
        hidden(&cx, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].message.contains("GPU 2"), "{}", out[0].message);
        assert!(
            out[0].message.contains("`7` names no GPU"),
            "{}",
            out[0].message
        );
        assert_eq!(out[0].key.as_ref().unwrap().to_string(), "devices.gpus[1]");
    }

    #[test]
    fn a_cross_socket_pair_is_flagged_when_a_closer_pair_exists() {
        let m = manifest(devices(None, None));
        let mut inv = inventory((0..4).map(|i| gpu(i, 24, 89)).collect());
        for (a, b, kind) in [
            (0, 1, LinkKind::HostBridge),
            (2, 3, LinkKind::HostBridge),
            (0, 2, LinkKind::CrossSocket),
            (0, 3, LinkKind::CrossSocket),
            (1, 2, LinkKind::CrossSocket),
            (1, 3, LinkKind::CrossSocket),
        ] {
            inv.links.push(Link {
                a,
                b,
                kind,
                lanes: 0,
            });
        }
        let cx = Context {
            manifest: &m,
            inventory: &inv,
            visible: None,
            flash_attention: false,
        };
        assert_eq!(worst_link(&inv, &[0, 2]), Some(LinkKind::CrossSocket));
        assert_eq!(worst_link(&inv, &[0, 1]), Some(LinkKind::HostBridge));
        let plan_over = |indices: &[u32]| plan_on(indices);
        let mut out = Vec::new();
        topology(&cx, &plan_over(&[0, 2]), &mut out);
        assert_eq!(out.len(), 1);
        assert!(
            out[0].message.contains("GPU 0, GPU 1 are connected better"),
            "{}",
            out[0].message
        );
        let mut out = Vec::new();
        topology(&cx, &plan_over(&[0, 1]), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_busy_gpu_names_its_processes_and_the_free_gpus() {
        let m = manifest(devices(Some(vec![manifest::Gpu::Ordinal(0)]), None));
        let mut busy = gpu(0, 24, 89);
        busy.memory_used = ByteSize::gib(20);
        busy.processes.push(GpuProcess {
            pid: 4242,
            name: "python3 train.py".into(),
            memory: ByteSize::gib(20),
        });
        let inv = inventory(vec![busy.clone(), gpu(1, 24, 89)]);
        let cx = Context {
            manifest: &m,
            inventory: &inv,
            visible: None,
            flash_attention: false,
        };
        let device = Device {
            gpu: busy,
            position: 0,
            limit: ByteSize::gib(3),
            limited_by: super::super::LimitedBy::Free,
        };
        let mut plan = plan_on(&[0]);
        plan.devices[0].total = ByteSize::gib(10);
        let mut out = Vec::new();
        super::busy(&cx, &[device], &plan, &mut out);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .message
                .contains("pid 4242 `python3 train.py` (20480 MiB)"),
            "{}",
            out[0].message
        );
        assert_eq!(
            out[0].help.as_deref(),
            Some("these GPUs are free enough: GPU 1 (test GPU); list one in `devices.gpus`")
        );
    }

    fn plan_on(indices: &[u32]) -> Plan {
        use super::super::{Comparison, DevicePlan, LimitedBy};
        use crate::units::{DType, KvCacheDtype, Quantization};
        Plan {
            strategy: Kind::Pipeline,
            dtype: DType::Bf16,
            quantization: Quantization::None,
            kv_cache: KvCacheDtype::Auto,
            max_seq_len: 1,
            max_batch_size: 1,
            max_images: 0,
            image_size: [0, 0],
            devices: indices
                .iter()
                .enumerate()
                .map(|(i, index)| DevicePlan {
                    index: *index,
                    cuda_ordinal: i,
                    name: "test GPU".into(),
                    uuid: None,
                    layers: Vec::new(),
                    layer_count: 1,
                    holds_fixed_parts: i == 0,
                    weights: ByteSize(0),
                    kv_cache: ByteSize(0),
                    activations: ByteSize(0),
                    overhead: ByteSize(0),
                    total: ByteSize(0),
                    limit: ByteSize::gib(1),
                    limited_by: LimitedBy::Physical,
                    headroom: 0,
                    quantization_overrides: Vec::new(),
                    sources: crate::plan::TermSources {
                        weights: crate::plan::Source::Exact,
                        kv_cache: crate::plan::Source::Modelled,
                        activations: crate::plan::Source::Estimated,
                        overhead: crate::plan::Source::Estimated,
                    },
                })
                .collect(),
            cpu: None,
            model_layers: 1,
            weights_total: ByteSize(0),
            decisions: Vec::new(),
            candidates: Vec::new(),
            capacity: None,
            comparison: Comparison {
                mistralrs_auto_layers: Vec::new(),
                mistralrs_auto_cpu_layers: 0,
                accelerate_weights: ByteSize(0),
            },
        }
    }
}
