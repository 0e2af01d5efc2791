//! What mistral.rs 0.8.1's own automatic device mapper would do, by its
//! formulas (`pipeline/loaders/auto_device_map.rs` and the Llama-style
//! `DeviceMappedModelLoader` impls): shown beside our plan so users see why
//! leaving the split to the runtime piles layers onto the first GPU.

use super::memory::dtype_bytes;
use crate::model::ModelShape;
use crate::units::{DType, Quantization};

/// mistral.rs's "pack factor": elements per dtype-sized slot after ISQ,
/// `(dtype_bytes · block).div_ceil(block_bytes)`, which rounds sizes down.
pub fn pack_factor(q: Quantization, dtype: DType) -> u64 {
    match super::memory::quant_block(q) {
        None => 1,
        Some((block, block_bytes)) => match q {
            Quantization::Hqq4 => 4,
            Quantization::Hqq8 | Quantization::Fp8 => 2,
            Quantization::Mxfp4 => 3,
            _ => (dtype_bytes(dtype) * block).div_ceil(block_bytes),
        },
    }
}

/// Its per-layer and non-mapped weight estimates, in bytes. `vision` is the
/// vision tower's bytes in the model dtype, which it counts unquantized.
pub fn estimates(shape: &ModelShape, dtype: DType, q: Quantization, vision: u64) -> (u64, u64) {
    let t = &shape.text;
    let b = dtype_bytes(dtype);
    let pf = pack_factor(q, dtype);
    let (h, i, v) = (t.hidden, t.intermediate, t.vocab);
    let (q_out, kv_out) = (t.heads * t.head_dim, t.kv_heads * t.head_dim);
    // MoE loaders count every expert and the router (`3·(h·I_e/pf)·E + h·E`,
    // `normal_loaders.rs`); the largest layer stands for all.
    let mlp = match &t.moe {
        Some(m) => {
            3 * (h * m.expert_intermediate / pf) * m.experts
                + h * m.experts
                + 3 * (h * m.shared_intermediate / pf)
        }
        None => 3 * (h * i / pf),
    };
    let layer = b * (2 * h + h * q_out / pf + 2 * (h * kv_out / pf) + q_out * h / pf + mlp);
    let lm_head = if !t.tie_word_embeddings || pf != 1 {
        h * v / pf
    } else {
        0
    };
    (layer, b * (h * v / pf + lm_head + h) + vision)
}

/// Layers per GPU (the rest go to the CPU) that mistral.rs's mapper picks for
/// GPUs with `free` bytes each: it ignores any per-GPU limit, keeps
/// `max(2 %, 512 MiB)` back, and fills devices in order.
pub fn layers_per_gpu(
    shape: &ModelShape,
    dtype: DType,
    q: Quantization,
    batch: u64,
    seq_len: u64,
    free: &[u64],
    vision: u64,
) -> Vec<u64> {
    let t = &shape.text;
    let b = dtype_bytes(dtype);
    let (layer, non_mapped) = estimates(shape, dtype, q, vision);
    let act = b * batch * t.heads * seq_len.min(1024).pow(2);
    let kv = b * batch * t.kv_heads * seq_len * 2 * t.head_dim;
    let mut remaining = t.layers;
    let mut out = Vec::new();
    for (ordinal, avail) in free.iter().enumerate() {
        let cap = avail.saturating_sub((avail / 50).max(512 << 20));
        let mut used = act + if ordinal == 0 { non_mapped } else { 0 };
        let mut n = 0;
        while n < remaining && used + layer + kv <= cap {
            used += layer + kv;
            n += 1;
        }
        out.push(n);
        remaining -= n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_factors_match_mistralrs() {
        // From the notes on mistral.rs 0.8.1: for BF16, Q4K → 4, Q6K → 3, Q8_0 → 2, Q3K → 5, Q2K → 7.
        assert_eq!(pack_factor(Quantization::Q4K, DType::Bf16), 4);
        assert_eq!(pack_factor(Quantization::Q6K, DType::Bf16), 3);
        assert_eq!(pack_factor(Quantization::Q8_0, DType::Bf16), 2);
        assert_eq!(pack_factor(Quantization::Q3K, DType::Bf16), 5);
        assert_eq!(pack_factor(Quantization::Q2K, DType::Bf16), 7);
        assert_eq!(pack_factor(Quantization::None, DType::Bf16), 1);
    }

    #[test]
    fn fills_the_first_gpu_first_whatever_the_limits() {
        let json: serde_json::Value = serde_json::from_str(
            crate::model::catalog::lookup("Qwen/Qwen2.5-7B-Instruct")
                .unwrap()
                .1
                .unwrap(),
        )
        .unwrap();
        let shape = crate::model::from_config(&json).unwrap();
        let gpu = 24 << 30;
        let split = layers_per_gpu(
            &shape,
            DType::Bf16,
            Quantization::None,
            1,
            4096,
            &[gpu, gpu],
            0,
        );
        assert_eq!(split.iter().sum::<u64>(), 28);
        assert_eq!(split, vec![28, 0], "all on GPU 0 while GPU 1 idles");
    }
}
