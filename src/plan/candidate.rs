//! The candidates `auto` weighs: what each lays out, and why it lost.

use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;

use super::capacity::Capacity;
use crate::units::ByteSize;

/// One candidate `auto` weighed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CandidateReport {
    #[serde(serialize_with = "super::text::display")]
    #[schemars(with = "String")]
    pub description: Arrangement,
    pub fits: bool,
    pub chosen: bool,
    /// Why it lost; empty for the winner.
    #[serde(serialize_with = "super::text::display_or_empty")]
    #[schemars(with = "String")]
    pub reason: Option<Lost>,
    /// Its capacity with its layout held, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

/// What a candidate lays out, over which GPUs (their inventory indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrangement {
    Single {
        gpu: u32,
    },
    Tensor {
        gpus: Vec<u32>,
    },
    Pipeline {
        gpus: Vec<u32>,
    },
    /// A pipeline over every GPU whose last layers run on the CPU.
    Spilled {
        cpu_layers: usize,
    },
}

/// Why a candidate lost to the winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    DoesNotFit { over: ByteSize },
    SpillsToCpu { layers: usize },
    LessHeadroom { own: ByteSize, winner: ByteSize },
    MoreGpus { own: usize, winner: usize },
}

impl fmt::Display for Arrangement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |gpus: &[u32]| {
            gpus.iter()
                .map(|g| format!("GPU {g}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Arrangement::Single { gpu } => write!(f, "single GPU ({})", list(&[*gpu])),
            Arrangement::Tensor { gpus } => {
                write!(f, "tensor parallel ×{} ({})", gpus.len(), list(gpus))
            }
            Arrangement::Pipeline { gpus } => write!(
                f,
                "pipeline over {} GPU{} ({})",
                gpus.len(),
                if gpus.len() == 1 { "" } else { "s" },
                list(gpus)
            ),
            Arrangement::Spilled { cpu_layers } => {
                write!(f, "pipeline with {cpu_layers} layers spilled to the CPU")
            }
        }
    }
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lost::DoesNotFit { over } => write!(f, "does not fit: {over} over its limit"),
            Lost::SpillsToCpu { layers } => write!(f, "spills {layers} layers to the CPU"),
            Lost::LessHeadroom { own, winner } => write!(
                f,
                "fits with less headroom on its tightest GPU ({own} vs {winner})"
            ),
            Lost::MoreGpus { own, winner } => {
                write!(f, "as much headroom, but {own} GPUs instead of {winner}")
            }
        }
    }
}
