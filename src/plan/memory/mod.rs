//! The memory model: the bytes each term takes on a device. Every formula is
//! documented, with its source, in `docs/memory-model.md`.

use serde::Serialize;

use crate::units::ByteSize;

mod activations;
mod kv_cache;
mod weights;

pub use activations::activations;
pub use kv_cache::{Cache, kv_elements_per_token, kv_per_layer, paged_blocks, recurrent_bytes};
pub use weights::{
    Classified, WeightCache, WeightTable, bits_per_weight, classify, dtype_bytes, quant_block,
    tensor_bytes,
};
/// Constants a user may override (`plan --overhead`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Per GPU: CUDA context, cuBLAS/cuDNN workspaces and allocator slack that no
    /// other term covers.
    pub overhead: ByteSize,
    /// Extra per GPU under tensor parallelism: NCCL communicator buffers.
    pub nccl_overhead: ByteSize,
    /// The build uses flash attention (no attention-score buffers).
    pub flash_attention: bool,
    /// Paged-attention block size in tokens (mistral.rs's CUDA default).
    pub block_size: u64,
    /// Prefill attention is computed in query chunks of this many tokens
    /// (mistral.rs `ATTENTION_CHUNK_SIZE`).
    pub attention_chunk: u64,
    /// Solve the plan's capacity (`Plan::capacity`): some 30 what-if plans,
    /// which `plan` shows and `validate` does without.
    pub capacity: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            overhead: ByteSize::mib(512),
            nccl_overhead: ByteSize::mib(256),
            flash_attention: false,
            block_size: 32,
            attention_chunk: 1024,
            capacity: false,
        }
    }
}

/// The four terms of one device's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Terms {
    pub weights: ByteSize,
    pub kv_cache: ByteSize,
    pub activations: ByteSize,
    pub overhead: ByteSize,
}

impl Terms {
    pub fn total(&self) -> ByteSize {
        ByteSize(
            self.weights
                .0
                .saturating_add(self.kv_cache.0)
                .saturating_add(self.activations.0)
                .saturating_add(self.overhead.0),
        )
    }
}

/// What a device runs, for the KV and activation terms.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub batch: u64,
    pub seq_len: u64,
    pub images: u64,
    pub image_size: (u64, u64),
}

#[cfg(test)]
mod tests;
