//! Why the plan is what it is: each choice the planner made for the manifest,
//! as data. `plan` prints them in order; the JSON holds the same sentences.

use std::fmt;

use super::candidate::Arrangement;
use super::capacity::{Bound, Figure, Limit};
use crate::units::DType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `dtype = "auto"`, resolved.
    Dtype {
        chosen: DType,
        because: DtypeReason,
    },
    /// `max_seq_len` unset: the model's context length.
    ContextUnset {
        tokens: u64,
    },
    /// A workload figure set to `"auto"`, solved at the other figure's value.
    Solved {
        figure: Figure,
        bound: Option<Bound>,
        other: u64,
    },
    /// `devices.gpus = []`.
    CpuOnly,
    ManualMap,
    PipelineCounts,
    PipelineByRoom,
    /// `tensor_size` unset: the largest valid size, with the dimensions that
    /// decide it.
    TensorSizeUnset {
        size: u64,
        gpus: usize,
        dims: String,
    },
    /// `auto`'s winner, which fits.
    AutoChose(Arrangement),
    /// No candidate fits: `auto` shows the closest.
    AutoClosest(Arrangement),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtypeReason {
    OnCpu,
    EveryGpuHasBf16,
    /// This GPU is below compute capability 8.0.
    OldGpu(String),
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Dtype { chosen, because } => match because {
                DtypeReason::OnCpu => write!(
                    f,
                    "dtype auto → {} on the CPU (for a GGUF model mistral.rs picks bf16 or f16, \
                     also 2 bytes)",
                    chosen.name()
                ),
                DtypeReason::EveryGpuHasBf16 => write!(
                    f,
                    "dtype auto → {}: every GPU supports it (compute capability 8.0 or newer)",
                    chosen.name()
                ),
                DtypeReason::OldGpu(gpu) => write!(
                    f,
                    "dtype auto → {}: {gpu} is below compute capability 8.0, which bf16 needs",
                    chosen.name()
                ),
            },
            Decision::ContextUnset { tokens } => {
                write!(
                    f,
                    "max_seq_len unset → {tokens}, the model's context length"
                )
            }
            Decision::Solved {
                figure,
                bound,
                other,
            } => {
                let (what, at) = (figure.key(), figure.other().key());
                match bound {
                    Some(Bound {
                        value,
                        limit: Limit::Memory { gpu, term },
                    }) => write!(
                        f,
                        "{what} auto → {value}, the most that fits at {at} {other} \
                         (then GPU {gpu}'s {} runs out)",
                        term.name()
                    ),
                    Some(Bound {
                        value,
                        limit: Limit::Ceiling { .. },
                    }) => write!(
                        f,
                        "{what} auto → {value}, the most solved for: it fits at {at} {other}"
                    ),
                    None => write!(
                        f,
                        "{what} auto → 1: nothing fits at {at} {other}, not even 1"
                    ),
                }
            }
            Decision::CpuOnly => f.write_str("`devices.gpus = []`: every layer runs on the CPU"),
            Decision::ManualMap => f.write_str("manual layer map from the manifest"),
            Decision::PipelineCounts => {
                f.write_str("pipeline with the layer counts from the manifest")
            }
            Decision::PipelineByRoom => {
                f.write_str("pipeline split in proportion to each GPU's room after its fixed parts")
            }
            Decision::TensorSizeUnset { size, gpus, dims } => write!(
                f,
                "tensor_size unset → {size}, the largest valid size for {gpus} GPUs ({dims})"
            ),
            Decision::AutoChose(winner) => write!(
                f,
                "auto chose {winner}: it fits and leaves the most headroom on its tightest GPU"
            ),
            Decision::AutoClosest(closest) => {
                write!(
                    f,
                    "no candidate fits; auto shows {closest}, the closest to fitting"
                )
            }
        }
    }
}
