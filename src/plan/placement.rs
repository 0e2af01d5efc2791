//! Where each decoder layer goes, and what that costs on every device.

use serde::Serialize;

use super::devices::Device;
use super::memory::{self, Cache, Settings, Terms, WeightTable, Workload};
use crate::model::ModelShape;
use crate::units::{ByteSize, DType, KvCacheDtype};

/// One placement of the model on the devices.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Placement {
    pub kind: Kind,
    /// Devices in pipeline order (or the tensor-parallel group), by index into the
    /// selected devices, with the layers each holds.
    pub stages: Vec<Stage>,
    /// Layers left to host memory.
    pub cpu_layers: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// Every layer on one GPU.
    Single,
    /// NCCL tensor parallelism: every rank holds a 1/size shard of every layer.
    Tensor { size: u64 },
    /// Contiguous layer ranges per GPU.
    Pipeline,
    /// A hand-written layer map.
    Manual,
    /// Layers on the CPU only (`devices.gpus = []`).
    Cpu,
}

impl Kind {
    /// `tensor parallel ×4`, `pipeline over 3 GPUs`: what people read, for a
    /// plan over `gpus` GPUs.
    pub fn describe(self, gpus: usize) -> String {
        match self {
            Kind::Single => "single GPU".to_owned(),
            Kind::Tensor { size } => format!("tensor parallel ×{size}"),
            Kind::Pipeline => format!("pipeline over {gpus} GPUs"),
            Kind::Manual => "manual layer map".to_owned(),
            Kind::Cpu => "CPU only".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stage {
    pub device: usize,
    pub layers: Vec<u64>,
}

/// What a placement costs.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Evaluation {
    pub terms: Vec<Terms>,
    /// Host bytes for CPU layers (f32 weights and their KV cache).
    pub cpu: ByteSize,
    /// Of `cpu`, what mistral.rs allocates only as requests need it: the KV
    /// cache (the CPU has no paged attention) and the activations.
    pub cpu_on_demand: ByteSize,
    /// `limit − total` per stage; negative when over.
    pub headroom: Vec<i128>,
}

impl Evaluation {
    pub(super) fn fits(&self) -> bool {
        self.headroom.iter().all(|h| *h >= 0)
    }

    /// The smallest headroom of any device: the planner's objective.
    pub(super) fn min_headroom(&self) -> i128 {
        self.headroom.iter().copied().min().unwrap_or(0)
    }
}

/// Everything that prices a placement.
pub(super) struct Pricing<'a> {
    pub shape: &'a ModelShape,
    pub weights: &'a WeightTable,
    /// In-situ quantization is on (it changes what tensor parallelism splits).
    pub isq: bool,
    pub dtype: DType,
    pub kv: KvCacheDtype,
    pub workload: Workload,
    pub settings: &'a Settings,
}

impl Pricing<'_> {
    fn shards(kind: Kind) -> u64 {
        match kind {
            Kind::Tensor { size } => size,
            _ => 1,
        }
    }

    /// The terms of one stage. The first stage of a pipeline (and every
    /// tensor-parallel rank) also holds embeddings, `lm_head` and the vision tower.
    pub(super) fn stage(&self, kind: Kind, layers: &[u64], first: bool) -> Terms {
        // Paged attention is a GPU feature; a CPU plan grows its cache.
        let cache = if kind == Kind::Cpu {
            Cache::Growing
        } else {
            Cache::Paged
        };
        self.stage_with(kind, layers, first, cache)
    }

    fn stage_with(&self, kind: Kind, layers: &[u64], first: bool, cache: Cache) -> Terms {
        let shards = Self::shards(kind);
        let replicated_fixed = first || shards > 1;
        let mut weights: u64 = layers.iter().fold(0u64, |n, l| {
            let l = *l as usize;
            n.saturating_add(
                self.weights.sharded[l]
                    .div_ceil(shards)
                    .saturating_add(self.weights.replicated[l]),
            )
        });
        if replicated_fixed {
            weights = weights
                .saturating_add(self.weights.text_fixed)
                .saturating_add(self.weights.vision);
        }
        let kv = memory::kv_per_layer(
            self.shape,
            &self.workload,
            self.dtype,
            self.kv,
            shards,
            self.settings,
            cache,
        )
        .saturating_mul(layers.len() as u64)
        .saturating_add(if replicated_fixed {
            memory::recurrent_bytes(self.shape, &self.workload, self.dtype, cache)
        } else {
            0
        });
        let activations = if layers.is_empty() && !replicated_fixed {
            0
        } else {
            memory::activations(
                self.shape,
                &self.workload,
                self.dtype,
                shards,
                replicated_fixed,
                self.settings,
            )
        };
        let overhead = self.settings.overhead.0
            + if shards > 1 {
                self.settings.nccl_overhead.0
            } else {
                0
            };
        Terms {
            weights: ByteSize(weights),
            kv_cache: ByteSize(kv),
            activations: ByteSize(activations),
            overhead: ByteSize(overhead),
        }
    }

    pub(super) fn evaluate(&self, placement: &Placement, devices: &[Device]) -> Evaluation {
        let mut terms = Vec::new();
        let mut headroom = Vec::new();
        // mistral.rs turns paged attention off when any layer is on the CPU
        // (`pipeline/normal.rs`), and every GPU then grows its cache as well.
        let cache = if placement.kind == Kind::Cpu || !placement.cpu_layers.is_empty() {
            Cache::Growing
        } else {
            Cache::Paged
        };
        for (i, stage) in placement.stages.iter().enumerate() {
            let t = self.stage_with(placement.kind, &stage.layers, i == 0, cache);
            headroom.push(i128::from(devices[stage.device].limit.0) - i128::from(t.total().0));
            terms.push(t);
        }
        let cpu_kv = memory::kv_per_layer(
            self.shape,
            &self.workload,
            DType::F32,
            self.kv,
            1,
            self.settings,
            Cache::Growing,
        );
        let (cpu, cpu_on_demand) = if placement.kind == Kind::Cpu {
            // A CPU-only deployment runs in the model dtype, like a single GPU.
            let t = self.stage_with(Kind::Single, &placement.cpu_layers, true, Cache::Growing);
            (
                t.total().0 - self.settings.overhead.0,
                t.kv_cache.0 + t.activations.0,
            )
        } else {
            // Layers spilled from a GPU deployment: mistral.rs holds them in f32.
            let layers = &placement.cpu_layers;
            (
                layers
                    .iter()
                    .map(|l| self.weights.layer_f32[*l as usize] + cpu_kv)
                    .sum(),
                cpu_kv * layers.len() as u64,
            )
        };
        Evaluation {
            terms,
            cpu: ByteSize(cpu),
            cpu_on_demand: ByteSize(cpu_on_demand),
            headroom,
        }
    }

    /// What a pipeline stage costs before its layers: overhead, the prefill
    /// activations of a stage that holds layers, and on the first stage the
    /// embeddings, `lm_head` and vision tower.
    pub(super) fn stage_base(&self, first: bool) -> u64 {
        let with_one = self.stage(Kind::Pipeline, &[0], first).total().0;
        with_one - self.layer_cost(0)
    }

    /// Bytes one layer adds to a pipeline stage: its weights and KV cache.
    pub(super) fn layer_cost(&self, layer: usize) -> u64 {
        self.weights.layer(layer) + self.layer_kv()
    }

    /// Bytes of one layer's KV cache on a pipeline stage (every layer alike).
    pub(super) fn layer_kv(&self) -> u64 {
        memory::kv_per_layer(
            self.shape,
            &self.workload,
            self.dtype,
            self.kv,
            1,
            self.settings,
            Cache::Paged,
        )
    }

    /// What each layer adds to a pipeline stage, in order.
    pub(super) fn layer_costs(&self) -> Vec<u64> {
        let kv = self.layer_kv();
        (0..self.weights.sharded.len())
            .map(|l| self.weights.layer(l) + kv)
            .collect()
    }
}

/// Splits layers with `costs` into contiguous runs over devices with `room`
/// bytes each, in proportion to the room, so uneven GPUs get uneven, fitting
/// shares. Returns the layer count per device, or `None` if they do not fit.
pub(super) fn split(costs: &[u64], room: &[i128]) -> Option<Vec<usize>> {
    let total: i128 = costs.iter().map(|c| i128::from(*c)).sum();
    let usable: i128 = room.iter().map(|r| (*r).max(0)).sum();
    if room.is_empty() || total > usable {
        return None;
    }
    // Proportional pass: each device stops near its share of the total.
    let mut counts = vec![0usize; room.len()];
    let mut next = 0;
    let mut cumulative: i128 = 0;
    let mut target: i128 = 0;
    for (i, r) in room.iter().enumerate() {
        target += total * (*r).max(0) / usable.max(1);
        let mut taken: i128 = 0;
        while next < costs.len() {
            let c = i128::from(costs[next]);
            let last = i == room.len() - 1;
            if taken + c > *r || (!last && cumulative + c / 2 > target) {
                break;
            }
            taken += c;
            cumulative += c;
            counts[i] += 1;
            next += 1;
        }
    }
    if next == costs.len() {
        return Some(counts);
    }
    // Rounding left layers over: fill front to back instead.
    let mut counts = vec![0usize; room.len()];
    let mut next = 0;
    for (i, r) in room.iter().enumerate() {
        let mut taken: i128 = 0;
        while next < costs.len() && taken + i128::from(costs[next]) <= *r {
            taken += i128::from(costs[next]);
            counts[i] += 1;
            next += 1;
        }
    }
    (next == costs.len()).then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_in_proportion_to_room() {
        assert_eq!(split(&[10; 8], &[100, 100]), Some(vec![4, 4]));
        // Twice the room, twice the layers.
        assert_eq!(split(&[10; 9], &[60, 120]), Some(vec![3, 6]));
        // A device with little room gets little.
        assert_eq!(split(&[10; 10], &[25, 200]), Some(vec![1, 9]));
        assert_eq!(split(&[10; 10], &[40, 40]), None);
        assert_eq!(split(&[10; 4], &[]), None);
    }

    #[test]
    fn never_exceeds_a_devices_room() {
        let costs = [7u64; 31];
        let room = [50i128, 64, 100, 20];
        let counts = split(&costs, &room).unwrap();
        assert_eq!(counts.iter().sum::<usize>(), 31);
        for (n, r) in counts.iter().zip(room) {
            assert!(*n as i128 * 7 <= r, "{counts:?}");
        }
    }
}
