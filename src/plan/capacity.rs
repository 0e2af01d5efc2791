//! Capacity: the longest context at the plan's batch size, and the most
//! sequences at its context, each with the GPU and the memory term that stop
//! it growing. Solved offline, over the planner's own model: the figures
//! people otherwise find by trial and error, or only after a full start.
//! The figures are here; `solve` finds them.

use schemars::JsonSchema;
use serde::Serialize;

use super::memory::Workload;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Capacity {
    /// The largest `max_seq_len` that fits at the plan's `max_batch_size`, up
    /// to the model's context length; `None` when not even one token does.
    pub max_seq_len: Option<Bound>,
    /// The most sequences that fit at the plan's `max_seq_len`, up to 1,024;
    /// `None` when not even one does.
    pub max_batch_size: Option<Bound>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Bound {
    pub value: u64,
    /// What stops it at `value`.
    pub limit: Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Limit {
    /// One more does not fit on this GPU (its inventory index); `term` is
    /// the one that grows most with it there.
    Memory { gpu: u32, term: Term },
    /// The search's ceiling: the model's context length, the manifest's cap,
    /// or 1,024 sequences.
    Ceiling { ceiling: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Term {
    Weights,
    KvCache,
    Activations,
    Overhead,
}

impl Term {
    pub fn name(self) -> &'static str {
        match self {
            Term::Weights => "weights",
            Term::KvCache => "KV cache",
            Term::Activations => "activations",
            Term::Overhead => "overhead",
        }
    }
}

/// The workload figures capacity is solved for, and that take `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    SeqLen,
    Batch,
}

impl Figure {
    pub fn key(self) -> &'static str {
        match self {
            Figure::SeqLen => "max_seq_len",
            Figure::Batch => "max_batch_size",
        }
    }

    pub(super) fn other(self) -> Figure {
        match self {
            Figure::SeqLen => Figure::Batch,
            Figure::Batch => Figure::SeqLen,
        }
    }

    /// `w` with this figure set to `value`.
    pub(super) fn at(self, w: Workload, value: u64) -> Workload {
        match self {
            Figure::SeqLen => Workload {
                seq_len: value,
                ..w
            },
            Figure::Batch => Workload { batch: value, ..w },
        }
    }
}
