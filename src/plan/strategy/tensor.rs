//! Tensor parallelism: which group sizes a model can be split by, and the
//! group the manifest gets.

use super::super::decision::Decision;
use super::super::finding::Finding;
use super::super::placement::{Kind, Placement, Stage};
use super::super::scope::Scope;
use crate::diagnostic::Code;
use crate::model::{Attention, Family, ModelShape};
use crate::units::{ByteSize, Quantization};

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

/// A tensor-parallel group over `devices` (indices into the selected devices).
pub(super) fn tensor(devices: &[usize], layers: u64) -> Placement {
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

/// The group `tensor_size` asks for, or the largest valid one; the GPUs with
/// the most room, in their listed order.
pub(super) fn group(
    scope: &Scope<'_>,
    size: Option<u32>,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Option<Placement> {
    let input = scope.input;
    let devices = scope.devices;
    let shape = input.shape;
    let isq = input.manifest.precision.quantization != Quantization::None;
    let valid = valid_tensor_sizes(shape, devices.len(), isq);
    let why = sharded_dims_text(shape, isq);
    let size = match size {
        Some(s) if !valid.contains(&u64::from(s)) => {
            findings.push(
                Finding::error(
                    Code::TensorSizeIncompatible,
                    format!("{} cannot be split {s} ways ({why})", shape.architecture),
                )
                .help(format!(
                    "valid sizes for {} GPUs: {}",
                    devices.len(),
                    valid
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .at("parallelism.tensor_size"),
            );
            return None;
        }
        Some(s) => u64::from(s),
        None => {
            let largest = *valid.last()?;
            decisions.push(Decision::TensorSizeUnset {
                size: largest,
                gpus: devices.len(),
                dims: why.clone(),
            });
            largest
        }
    };
    // Prefer the GPUs with the most room; keep their listed order.
    let mut by_room: Vec<usize> = (0..devices.len()).collect();
    by_room.sort_by(|a, b| devices[*b].limit.cmp(&devices[*a].limit).then(a.cmp(b)));
    let mut group: Vec<usize> = by_room[..size as usize].to_vec();
    group.sort_unstable();
    if group.len() < devices.len() {
        let left: Vec<String> = (0..devices.len())
            .filter(|i| !group.contains(i))
            .map(|i| devices[i].gpu.label())
            .collect();
        findings.push(
            Finding::warning(
                Code::GpusLeftOut,
                format!(
                    "tensor parallelism uses {size} of the {} GPUs {}; left out: {}",
                    devices.len(),
                    if input.manifest.devices.gpus.is_some() { "listed" } else { "available" },
                    left.join(", ")
                ),
            )
            .help(format!(
                "{} GPUs cannot form one group ({why}); list {size} GPUs, or use `strategy = \"pipeline\"` to use them all",
                devices.len()
            ))
            .at(if input.manifest.devices.gpus.is_some() { "devices.gpus" } else { "parallelism.strategy" }),
        );
    }
    let limits: Vec<ByteSize> = group.iter().map(|i| devices[*i].limit).collect();
    let (lo, hi) = (limits.iter().min().copied()?, limits.iter().max().copied()?);
    if hi.0 > lo.0 + lo.0 / 50 {
        let smallest = group
            .iter()
            .find(|i| devices[**i].limit == lo)
            .map(|i| devices[*i].gpu.label())
            .unwrap_or_default();
        findings.push(
            Finding::warning(
                Code::UnevenRanks,
                format!("tensor-parallel ranks have different limits ({lo} to {hi}); every rank holds the same shard, so {smallest} bounds them all"),
            )
            .help("free or choose GPUs with equal room, or use a pipeline to use the larger ones fully")
            .at(if input.manifest.devices.gpus.is_some() { "devices.gpus" } else { "parallelism.strategy" }),
        );
    }
    Some(tensor(&group, shape.text.layers))
}
