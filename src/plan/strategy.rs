//! Building a placement for each strategy: single GPU, tensor parallel,
//! pipeline, a manual map, and the `auto` choice among them.

use std::collections::BTreeMap;

use super::devices::Device;
use super::finding::Finding;
use super::placement::{Evaluation, Kind, Placement, Pricing, Stage, split};
use crate::diagnostic::{Code, suggest};
use crate::manifest::values::Quantization;
use crate::manifest::{self, LayerMap};
use crate::model::{Attention, Family, ModelShape, Part};

/// Tensor-parallel sizes the model can be split by, up to `max`: a power of
/// two that divides every dimension mistral.rs 0.8.1 shards with an even split
/// (`Shard::Simple` fails on a remainder), and divides the KV heads or is a
/// multiple of them (mistral.rs then replicates KV heads). `isq` is whether
/// in-situ quantization is on, which keeps MoE experts whole on every rank.
pub fn valid_tensor_sizes(shape: &ModelShape, max: usize, isq: bool) -> Vec<u64> {
    let dims = sharded_dims(shape, isq);
    let kv = shape.text.kv_heads;
    let latent = matches!(shape.text.attention, Attention::Latent(_));
    (0..)
        .map(|k| 1u64 << k)
        .take_while(|s| *s as usize <= max)
        .filter(|s| dims.iter().all(|(_, d)| d % s == 0) && (latent || kv % s == 0 || s % kv == 0))
        .collect()
}

/// The dimensions tensor parallelism splits evenly, named for messages.
pub fn sharded_dims(shape: &ModelShape, isq: bool) -> Vec<(&'static str, u64)> {
    let t = &shape.text;
    let family = Family::of(&shape.architecture);
    let mut dims = vec![("attention heads", t.heads)];
    let dense_layers = t
        .moe
        .as_ref()
        .is_none_or(|m| (0..t.layers).any(|l| !m.is_sparse(l)));
    if dense_layers && t.intermediate > 0 {
        dims.push(("MLP width", t.intermediate));
    }
    if let Some(moe) = &t.moe {
        // Experts split along their width on every rank, except gpt-oss's and,
        // under ISQ, those on the gather kernels, which stay whole.
        let split = match family {
            Family::GptOss => false,
            Family::Qwen3Moe | Family::Glm4Moe | Family::DeepSeek => !isq,
            _ => true,
        };
        if split {
            dims.push(("expert width", moe.expert_intermediate));
        }
        if family == Family::DeepSeek && moe.shared_intermediate > 0 {
            dims.push(("shared-expert width", moe.shared_intermediate));
        }
    }
    dims
}

/// `40 attention heads, 8 KV heads, expert width 768`, for messages.
pub fn sharded_dims_text(shape: &ModelShape, isq: bool) -> String {
    let mut parts: Vec<String> = sharded_dims(shape, isq)
        .iter()
        .map(|(name, d)| format!("{d} {name}"))
        .collect();
    if !matches!(shape.text.attention, Attention::Latent(_)) {
        parts.insert(1, format!("{} KV heads", shape.text.kv_heads));
    }
    parts.join(", ")
}

pub fn single(device: usize, layers: u64) -> Placement {
    Placement {
        kind: Kind::Single,
        stages: vec![Stage {
            device,
            layers: (0..layers).collect(),
        }],
        cpu_layers: Vec::new(),
    }
}

/// A tensor-parallel group over `devices` (indices into the selected devices).
pub fn tensor(devices: &[usize], layers: u64) -> Placement {
    Placement {
        kind: Kind::Tensor {
            size: devices.len() as u64,
        },
        stages: devices
            .iter()
            .map(|d| Stage {
                device: *d,
                layers: (0..layers).collect(),
            })
            .collect(),
        cpu_layers: Vec::new(),
    }
}

/// A pipeline over `order` (indices into the selected devices) with `counts`
/// layers each; devices given none are dropped.
pub fn pipeline_from_counts(order: &[usize], counts: &[usize], total: u64) -> Placement {
    let mut stages = Vec::new();
    let mut next = 0u64;
    for (device, n) in order.iter().zip(counts) {
        if *n == 0 && !stages.is_empty() {
            continue;
        }
        stages.push(Stage {
            device: *device,
            layers: (next..next + *n as u64).collect(),
        });
        next += *n as u64;
    }
    Placement {
        kind: Kind::Pipeline,
        stages,
        cpu_layers: (next..total).collect(),
    }
}

/// A pipeline over `order`, split by each device's room after its fixed parts.
/// With `spill`, layers that do not fit go to the CPU; else `None` if they do not fit.
pub fn pipeline_split(
    pricing: &Pricing<'_>,
    devices: &[Device],
    order: &[usize],
    spill: bool,
) -> Option<Placement> {
    let layers = pricing.shape.text.layers as usize;
    let costs: Vec<u64> = (0..layers).map(|l| pricing.layer_cost(l)).collect();
    let room: Vec<i128> = order
        .iter()
        .enumerate()
        .map(|(i, d)| i128::from(devices[*d].limit.0) - i128::from(pricing.stage_base(i == 0)))
        .collect();
    if let Some(counts) = split(&costs, &room) {
        return Some(pipeline_from_counts(order, &counts, layers as u64));
    }
    if !spill {
        return None;
    }
    // Fill the GPUs front to back; the tail spills to the CPU.
    let mut counts = Vec::new();
    let mut next = 0;
    for r in &room {
        let mut taken: i128 = 0;
        let mut n = 0;
        while next < layers && taken + i128::from(costs[next]) <= *r {
            taken += i128::from(costs[next]);
            n += 1;
            next += 1;
        }
        counts.push(n);
    }
    Some(pipeline_from_counts(order, &counts, layers as u64))
}

/// The device index that holds `gpu`.
fn device_of(devices: &[Device], gpu: &manifest::Gpu) -> Option<usize> {
    devices.iter().position(|d| match gpu {
        manifest::Gpu::Ordinal(n) => d.gpu.index == *n,
        manifest::Gpu::Uuid(id) => d
            .gpu
            .uuid
            .as_deref()
            .is_some_and(|u| u.starts_with(id.as_str())),
    })
}

/// A manual map: per-layer devices and quantization, checked against the model.
pub struct Manual {
    pub placement: Placement,
    pub quantization: BTreeMap<u64, Quantization>,
}

pub fn manual(
    map: &LayerMap,
    shape: &ModelShape,
    devices: &[Device],
    findings: &mut Vec<Finding>,
) -> Option<Manual> {
    let layers = shape.text.layers;
    let mut owner: Vec<Option<usize>> = vec![None; layers as usize];
    let mut quantization = BTreeMap::new();
    let mut ok = true;
    match map {
        LayerMap::Ranges(ranges) => {
            for (i, range) in ranges.iter().enumerate() {
                let Some(device) = device_of(devices, &range.gpu) else {
                    continue;
                };
                if u64::from(*range.layers.end()) >= layers {
                    ok = false;
                    findings.push(
                        Finding::error(
                            Code::LayerOutOfRange,
                            format!(
                                "the map names layer {}, but {} has layers 0-{}",
                                range.layers.end(),
                                shape.architecture,
                                layers - 1
                            ),
                        )
                        .help(format!("end the last range at {}", layers - 1))
                        .at(&format!("parallelism.map.{i}.layers")),
                    );
                }
                for l in range.layers.clone() {
                    if let Some(slot) = owner.get_mut(l as usize) {
                        *slot = Some(device);
                        if let Some(q) = range.quantization {
                            quantization.insert(u64::from(l), q);
                        }
                    }
                }
            }
        }
        LayerMap::File { entries, .. } => {
            let modules = module_names(shape);
            let mut claimed_by: BTreeMap<u64, String> = BTreeMap::new();
            for (name, gpu) in entries {
                let Some(device) = device_of(devices, gpu) else {
                    continue;
                };
                let known = shape
                    .tensors
                    .iter()
                    .any(|t| t.name == *name || t.name.starts_with(&format!("{name}.")));
                if !known {
                    ok = false;
                    let mut finding = Finding::error(
                        Code::UnknownModule,
                        format!("`{name}` in the layer map matches no tensor of the checkpoint"),
                    )
                    .at("parallelism.map_file");
                    let help = match suggest::closest(name, modules.iter().map(String::as_str)) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!(
                            "module names look like `{}`",
                            modules.first().cloned().unwrap_or_default()
                        ),
                    };
                    finding = finding.help(help);
                    findings.push(finding);
                    continue;
                }
                let parts: Vec<Part> = shape
                    .tensors
                    .iter()
                    .filter(|t| t.name == *name || t.name.starts_with(&format!("{name}.")))
                    .map(|t| t.part())
                    .collect();
                match parts.first() {
                    Some(Part::Layer(l)) if parts.iter().all(|p| *p == Part::Layer(*l)) => {
                        // mistral.rs places whole layers: two entries sending
                        // parts of one layer to different GPUs cannot both hold.
                        match (owner[*l as usize], claimed_by.get(l)) {
                            (Some(other), Some(first)) if other != device => {
                                ok = false;
                                findings.push(
                                    Finding::error(
                                        Code::OverlappingLayers,
                                        format!(
                                            "layer {l} is mapped twice: `{first}` sends it to {}, `{name}` to {}",
                                            devices[other].gpu.label(),
                                            devices[device].gpu.label()
                                        ),
                                    )
                                    .help("mistral.rs places whole layers; give each layer one GPU")
                                    .at("parallelism.map_file"),
                                );
                            }
                            _ => {
                                owner[*l as usize] = Some(device);
                                claimed_by.entry(*l).or_insert_with(|| name.clone());
                            }
                        }
                    }
                    _ if device != 0 => findings.push(
                        Finding::warning(
                            Code::IgnoredMapEntry,
                            format!(
                                "`{name}` is mapped to {}, but mistral.rs keeps embeddings, lm_head, norms and the vision tower on the first GPU",
                                devices[device].gpu.label()
                            ),
                        )
                        .help("map only decoder layers (`model.layers.N`); the first GPU in `devices.gpus` holds the rest")
                        .at("parallelism.map_file"),
                    ),
                    _ => {}
                }
            }
        }
    }
    let missing: Vec<u64> = (0..layers)
        .filter(|l| owner[*l as usize].is_none())
        .collect();
    if !missing.is_empty() {
        findings.push(
            Finding::error(
                Code::LayersUnmapped,
                format!("the layer map gives no GPU to {}", ranges_text(&missing)),
            )
            .help(format!(
                "mistral.rs would put unmapped layers on the CPU; map all {layers} layers (0-{})",
                layers - 1
            ))
            .at(match map {
                LayerMap::Ranges(_) => "parallelism.map",
                LayerMap::File { .. } => "parallelism.map_file",
            }),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    // Stages in the order layers visit them; a device may appear once per run.
    let mut stages: Vec<super::placement::Stage> = Vec::new();
    for (l, device) in owner.iter().enumerate() {
        let device = device.expect("every layer is mapped");
        match stages.last_mut() {
            Some(stage) if stage.device == device => stage.layers.push(l as u64),
            _ => stages.push(super::placement::Stage {
                device,
                layers: vec![l as u64],
            }),
        }
    }
    Some(Manual {
        placement: Placement {
            kind: Kind::Manual,
            stages,
            cpu_layers: Vec::new(),
        },
        quantization,
    })
}

/// Module names a device map may use: every tensor name without its last
/// component, and each of their ancestors.
fn module_names(shape: &ModelShape) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for t in &shape.tensors {
        let mut name = t.name.as_str();
        while let Some((parent, _)) = name.rsplit_once('.') {
            names.insert(parent.to_owned());
            name = parent;
        }
    }
    names.into_iter().collect()
}

/// `3, 5-9, 12`.
pub fn ranges_text(layers: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let start = layers[i];
        let mut end = start;
        while i + 1 < layers.len() && layers[i + 1] == end + 1 {
            i += 1;
            end = layers[i];
        }
        parts.push(if start == end {
            format!("{start}")
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    let noun = if layers.len() == 1 { "layer" } else { "layers" };
    format!("{noun} {}", parts.join(", "))
}

/// One candidate of `auto`, priced.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub placement: Placement,
    pub evaluation: Evaluation,
    pub description: String,
}

impl Candidate {
    pub fn gpus(&self) -> usize {
        self.placement.stages.len()
    }
}

/// Every candidate `auto` considers, priced.
pub fn auto_candidates(pricing: &Pricing<'_>, devices: &[Device], spill: bool) -> Vec<Candidate> {
    let layers = pricing.shape.text.layers;
    let mut out = Vec::new();
    let describe = |d: &[usize]| {
        d.iter()
            .map(|i| format!("GPU {}", devices[*i].gpu.index))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // By limit, largest first; ties keep inventory order.
    let mut by_room: Vec<usize> = (0..devices.len()).collect();
    by_room.sort_by(|a, b| devices[*b].limit.cmp(&devices[*a].limit).then(a.cmp(b)));

    if let Some(best) = by_room.first() {
        let p = single(*best, layers);
        out.push(Candidate {
            evaluation: pricing.evaluate(&p, devices),
            placement: p,
            description: format!("single GPU ({})", describe(&[*best])),
        });
    }
    for size in valid_tensor_sizes(pricing.shape, devices.len(), pricing.isq)
        .into_iter()
        .filter(|s| *s >= 2)
    {
        let mut group: Vec<usize> = by_room[..size as usize].to_vec();
        group.sort_unstable();
        let p = tensor(&group, layers);
        out.push(Candidate {
            evaluation: pricing.evaluate(&p, devices),
            placement: p,
            description: format!("tensor parallel ×{size} ({})", describe(&group)),
        });
    }
    for k in 2..=devices.len() {
        let mut group: Vec<usize> = by_room[..k].to_vec();
        group.sort_unstable();
        let fits = pipeline_split(pricing, devices, &group, false);
        if let Some(p) = fits.or_else(|| {
            (k == devices.len())
                .then(|| pipeline_split(pricing, devices, &group, true))
                .flatten()
        }) {
            let evaluation = pricing.evaluate(&p, devices);
            let fit = evaluation.fits() && p.cpu_layers.is_empty();
            out.push(Candidate {
                description: format!(
                    "pipeline over {} GPU{} ({})",
                    group.len(),
                    if group.len() == 1 { "" } else { "s" },
                    describe(&group)
                ),
                placement: p,
                evaluation,
            });
            if fit {
                break;
            }
        }
    }
    if spill && !devices.is_empty() {
        let mut all: Vec<usize> = (0..devices.len()).collect();
        all.sort_unstable();
        if let Some(p) =
            pipeline_split(pricing, devices, &all, true).filter(|p| !p.cpu_layers.is_empty())
        {
            out.push(Candidate {
                evaluation: pricing.evaluate(&p, devices),
                description: format!(
                    "pipeline with {} layers spilled to the CPU",
                    p.cpu_layers.len()
                ),
                placement: p,
            });
        }
    }
    out
}

/// `auto`'s objective: fits within limits first, then the most headroom on its
/// tightest GPU (room for KV cache), then fewer GPUs. Returns the winner's
/// index and, for every other candidate, why it lost.
pub fn choose(candidates: &[Candidate]) -> Option<(usize, Vec<(String, String)>)> {
    let fits = |c: &Candidate| c.evaluation.fits() && c.placement.cpu_layers.is_empty();
    let spills_ok = |c: &Candidate| c.evaluation.fits();
    let rank = |c: &Candidate| {
        (
            fits(c),
            spills_ok(c),
            c.evaluation.min_headroom(),
            std::cmp::Reverse(c.gpus()),
        )
    };
    let winner = (0..candidates.len()).max_by(|a, b| {
        rank(&candidates[*a])
            .cmp(&rank(&candidates[*b]))
            .then(b.cmp(a))
    })?;
    let w = &candidates[winner];
    let reasons = candidates
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != winner)
        .map(|(_, c)| {
            let why = if !c.evaluation.fits() {
                let over = -c.evaluation.min_headroom();
                format!(
                    "does not fit: {} over its limit",
                    crate::manifest::size::ByteSize(over.max(0) as u64)
                )
            } else if fits(w) && !fits(c) {
                format!("spills {} layers to the CPU", c.placement.cpu_layers.len())
            } else if c.evaluation.min_headroom() < w.evaluation.min_headroom() {
                format!(
                    "fits with less headroom on its tightest GPU ({} vs {})",
                    crate::manifest::size::ByteSize(c.evaluation.min_headroom().max(0) as u64),
                    crate::manifest::size::ByteSize(w.evaluation.min_headroom().max(0) as u64)
                )
            } else {
                format!(
                    "as much headroom, but {} GPUs instead of {}",
                    c.gpus(),
                    w.gpus()
                )
            };
            (c.description.clone(), why)
        })
        .collect();
    Some((winner, reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_layer_lists_as_ranges() {
        assert_eq!(ranges_text(&[3]), "layer 3");
        assert_eq!(ranges_text(&[3, 5, 6, 7, 9]), "layers 3, 5-7, 9");
    }
}
