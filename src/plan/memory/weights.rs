//! Weight bytes: per tensor at its stored or quantized size, summed per layer
//! and per fixed part.

use crate::model::shape::Family;
use crate::model::{ModelShape, Part, StoredDtype, Tensor, rules};
use crate::units::{DType, Quantization};

/// Bytes per element of a runtime dtype. `Auto` must be resolved first.
pub fn dtype_bytes(dtype: DType) -> u64 {
    match dtype {
        DType::F32 => 4,
        DType::Bf16 | DType::F16 | DType::Auto => 2,
    }
}

/// GGML-style storage of an in-situ quantization type: `(block, bytes per block)`.
/// From the block structs of ggml (`block_q4_K` is 144 bytes per 256 weights:
/// 4.5 bits) and mistral.rs's HQQ/AFQ/FP8 layouts.
pub fn quant_block(q: Quantization) -> Option<(u64, u64)> {
    use Quantization::*;
    Some(match q {
        None => return Option::None,
        Q4_0 => (32, 18),
        Q4_1 => (32, 20),
        Q5_0 => (32, 22),
        Q5_1 => (32, 24),
        Q8_0 => (32, 34),
        Q8_1 => (32, 36),
        Q2K => (256, 84),
        Q3K => (256, 110),
        Q4K => (256, 144),
        Q5K => (256, 176),
        Q6K => (256, 210),
        Q8K => (256, 292),
        // 4/8-bit codes with an f16 scale and zero per group of 64.
        Hqq4 => (64, 36),
        Hqq8 => (64, 68),
        // One byte per weight, one scale per tensor row (negligible).
        Fp8 => (1, 1),
        // n-bit codes with a bf16 scale and bias per group of 64.
        Afq2 => (64, 20),
        Afq3 => (64, 28),
        Afq4 => (64, 36),
        Afq6 => (64, 52),
        Afq8 => (64, 68),
        // One byte per weight plus an f8 scale per 32.
        F8Q8 => (32, 33),
        // 4-bit e2m1 codes plus an e8m0 scale per 32.
        Mxfp4 => (32, 17),
    })
}

/// Bits per weight of a quantization, for messages.
pub fn bits_per_weight(q: Quantization) -> Option<f64> {
    quant_block(q).map(|(block, bytes)| bytes as f64 * 8.0 / block as f64)
}

/// Bytes `tensor` takes at run time with `dtype` and quantization `q`, where
/// `isq` says whether in-situ quantization converts this tensor.
pub fn tensor_bytes(tensor: &Tensor, dtype: DType, q: Quantization, isq: bool) -> u64 {
    match tensor.dtype {
        // GGUF tensors load as stored, and so do packed integer data (gpt-oss's
        // MXFP4 blocks and scales): mistral.rs casts only floating tensors.
        StoredDtype::Quantized { .. } | StoredDtype::I8 => return tensor.bytes,
        _ => {}
    }
    match quant_block(q) {
        Some((block, block_bytes)) if isq => tensor.elements().div_ceil(block) * block_bytes,
        _ => tensor.elements() * dtype_bytes(dtype),
    }
}

/// Per-layer and fixed weight bytes, precomputed once per (dtype, quantization).
#[derive(Debug, Clone)]
pub struct WeightTable {
    /// Per decoder layer: bytes split across tensor-parallel ranks (projections).
    pub sharded: Vec<u64>,
    /// Per decoder layer: bytes every rank holds whole (norms, biases of row layers).
    pub replicated: Vec<u64>,
    /// Embeddings, final norm and `lm_head`.
    pub text_fixed: u64,
    /// The vision tower and projector.
    pub vision: u64,
    /// The same layer in f32, for layers offloaded to the CPU.
    pub layer_f32: Vec<u64>,
}

/// A tensor as the weight table needs it: where it goes and how the runtime
/// treats it, read from its name once per model rather than once per
/// quantization the planner tries.
#[derive(Debug, Clone)]
pub struct Classified {
    part: Part,
    dtype: StoredDtype,
    elements: u64,
    stored: u64,
    /// In-situ quantization converts it.
    isq: bool,
    /// Tensor parallelism splits it, without and with in-situ quantization.
    split: [bool; 2],
    /// A GGUF token embedding (dequantized to f32 at load).
    gguf_embedding: bool,
}

/// Classifies every tensor of `shape`. Names that differ only in their
/// numbers (layer and expert indices) are treated alike, so each such
/// pattern is matched against the rules once: DeepSeek-V3 has some 45,000
/// tensors but a few dozen patterns.
pub fn classify(shape: &ModelShape) -> Vec<Classified> {
    let family = Family::of(&shape.architecture);
    // Pattern hash → its class. A 64-bit hash over a few dozen patterns does
    // not collide in practice (the odds are about n² / 2⁶⁵).
    let mut seen: std::collections::HashMap<u64, (Part, bool, [bool; 2])> =
        std::collections::HashMap::new();
    let rules_for = |t: &Tensor| {
        (
            t.part(),
            rules::isq_converts(family, t),
            [
                rules::tp_splits(family, t, false),
                rules::tp_splits(family, t, true),
            ],
        )
    };
    shape
        .tensors
        .iter()
        .map(|t| {
            let hash = pattern_hash(&t.name, t.dims.len());
            let (part, isq, split) = match seen.get(&hash) {
                // A layer's index is the name's first number.
                Some(&(Part::Layer(_), isq, split)) => {
                    (Part::Layer(first_number(&t.name)), isq, split)
                }
                Some(&class) => class,
                None => {
                    let class = rules_for(t);
                    seen.insert(hash, class);
                    class
                }
            };
            Classified {
                part,
                dtype: t.dtype,
                elements: t.elements(),
                stored: t.bytes,
                isq,
                split,
                gguf_embedding: t.name == "token_embd.weight",
            }
        })
        .collect()
}

/// FxHash of the name with each run of digits as one `#`, and of the
/// tensor's rank.
fn pattern_hash(name: &str, rank: usize) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut in_digits = false;
    for &b in name.as_bytes() {
        let b = if b.is_ascii_digit() {
            if in_digits {
                continue;
            }
            in_digits = true;
            b'#'
        } else {
            in_digits = false;
            b
        };
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ rank as u64).wrapping_mul(K)
}

/// The first run of digits in `name`, as a number.
fn first_number(name: &str) -> u64 {
    let mut n: Option<u64> = None;
    for &b in name.as_bytes() {
        match (b.is_ascii_digit(), n) {
            (true, _) => n = Some(n.unwrap_or(0).saturating_mul(10) + u64::from(b - b'0')),
            (false, Some(_)) => break,
            (false, None) => {}
        }
    }
    n.unwrap_or(u64::MAX)
}

impl Classified {
    fn bytes(&self, dtype: DType, q: Quantization, isq: bool) -> u64 {
        match self.dtype {
            StoredDtype::Quantized { .. } | StoredDtype::I8 => return self.stored,
            _ => {}
        }
        match quant_block(q) {
            Some((block, block_bytes)) if isq => {
                self.elements.div_ceil(block).saturating_mul(block_bytes)
            }
            _ => self.elements.saturating_mul(dtype_bytes(dtype)),
        }
    }
}

impl WeightTable {
    pub fn new(
        shape: &ModelShape,
        dtype: DType,
        q: Quantization,
        per_layer_q: &dyn Fn(u64) -> Option<Quantization>,
    ) -> WeightTable {
        Self::from_classified(shape, &classify(shape), dtype, q, per_layer_q)
    }

    pub fn from_classified(
        shape: &ModelShape,
        tensors: &[Classified],
        dtype: DType,
        q: Quantization,
        per_layer_q: &dyn Fn(u64) -> Option<Quantization>,
    ) -> WeightTable {
        let layers = shape.text.layers as usize;
        let mut table = WeightTable {
            sharded: vec![0; layers],
            replicated: vec![0; layers],
            text_fixed: 0,
            vision: 0,
            layer_f32: vec![0; layers],
        };
        for t in tensors {
            match t.part {
                Part::Layer(i) if (i as usize) < layers => {
                    let q = per_layer_q(i).unwrap_or(q);
                    let bytes = t.bytes(dtype, q, t.isq);
                    if t.split[usize::from(q != Quantization::None)] {
                        table.sharded[i as usize] = table.sharded[i as usize].saturating_add(bytes);
                    } else {
                        table.replicated[i as usize] =
                            table.replicated[i as usize].saturating_add(bytes);
                    }
                    let f32 = match t.dtype {
                        StoredDtype::Quantized { .. } | StoredDtype::I8 => t.stored,
                        _ => t.elements.saturating_mul(4),
                    };
                    table.layer_f32[i as usize] = table.layer_f32[i as usize].saturating_add(f32);
                }
                Part::Vision => {
                    table.vision =
                        table
                            .vision
                            .saturating_add(t.bytes(dtype, Quantization::None, false))
                }
                // mistral.rs's GGUF models dequantize the token embedding to
                // f32 (candle's `dequantize`), and a tied output head loads the
                // stored copy again.
                Part::Embedding if t.gguf_embedding => {
                    let tied = if shape.text.tie_word_embeddings {
                        t.stored
                    } else {
                        0
                    };
                    table.text_fixed = table
                        .text_fixed
                        .saturating_add(t.elements.saturating_mul(4).saturating_add(tied))
                }
                Part::Layer(_) | Part::Embedding | Part::LmHead | Part::FinalNorm | Part::Other => {
                    table.text_fixed = table.text_fixed.saturating_add(t.bytes(dtype, q, t.isq))
                }
            }
        }
        table
    }

    pub fn layer(&self, i: usize) -> u64 {
        self.sharded[i].saturating_add(self.replicated[i])
    }

    pub fn all_layers(&self) -> u64 {
        (0..self.sharded.len()).fold(0u64, |n, i| n.saturating_add(self.layer(i)))
    }

    pub fn total(&self) -> u64 {
        self.all_layers()
            .saturating_add(self.text_fixed)
            .saturating_add(self.vision)
    }
}

/// A model's tensors classified once, and the weight tables built from them,
/// by dtype and quantization: `validate` plans one model many times, and
/// explaining a misfit tries each quantization. Shared between threads.
#[derive(Debug)]
pub struct WeightCache {
    classified: Vec<Classified>,
    tables: std::sync::Mutex<Vec<(DType, Quantization, std::sync::Arc<WeightTable>)>>,
}

impl WeightCache {
    pub fn new(shape: &ModelShape) -> WeightCache {
        WeightCache {
            classified: classify(shape),
            tables: Default::default(),
        }
    }

    pub fn classified(&self) -> &[Classified] {
        &self.classified
    }

    /// The table of `shape` (the one this cache was made from) at `dtype`
    /// and `q`, with no per-layer overrides.
    pub fn table(
        &self,
        shape: &ModelShape,
        dtype: DType,
        q: Quantization,
    ) -> std::sync::Arc<WeightTable> {
        let found = |tables: &[(DType, Quantization, std::sync::Arc<WeightTable>)]| {
            tables
                .iter()
                .find(|(d, k, _)| *d == dtype && *k == q)
                .map(|(_, _, t)| t.clone())
        };
        if let Some(hit) = self.tables.lock().ok().and_then(|t| found(&t)) {
            return hit;
        }
        let table = std::sync::Arc::new(WeightTable::from_classified(
            shape,
            &self.classified,
            dtype,
            q,
            &|_| None,
        ));
        if let Ok(mut tables) = self.tables.lock() {
            if found(&tables).is_none() {
                tables.push((dtype, q, table.clone()));
            }
        }
        table
    }
}
