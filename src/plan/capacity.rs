//! Capacity: the longest context at the plan's batch size, and the most
//! sequences at its context, each with the GPU and the memory term that stop
//! it growing. Solved offline, over the planner's own model: the figures
//! people otherwise find by trial and error, or only after a full start.

use schemars::JsonSchema;
use serde::Serialize;

use super::advice;
use super::memory::{Terms, Workload};
use super::placement::Placement;
use super::scope::Scope;
use super::strategy::place;

/// The most sequences a capacity search tries.
pub(super) const MAX_BATCH: u64 = 1024;

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

/// What a capacity search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Vary {
    SeqLen,
    Batch,
}

impl Vary {
    fn at(self, w: Workload, value: u64) -> Workload {
        match self {
            Vary::SeqLen => Workload {
                seq_len: value,
                ..w
            },
            Vary::Batch => Workload { batch: value, ..w },
        }
    }
}

/// A layout's capacity, the layout held: the chosen plan's, or a
/// candidate's. (Solving a manifest's `"auto"` re-places at each value.)
pub(super) fn of_placement(
    scope: &Scope<'_>,
    placement: &Placement,
    w: Workload,
    context: u64,
) -> Capacity {
    Capacity {
        max_seq_len: solve(scope, Some(placement), w, Vary::SeqLen, context.max(1)),
        max_batch_size: solve(scope, Some(placement), w, Vary::Batch, MAX_BATCH),
    }
}

/// The largest value in `1..=ceiling` with which the plan fits, by
/// bisection (a longer context or more sequences never need less memory),
/// and what stops it there. With `fixed`, that layout; else as the manifest's
/// strategy would place it.
pub(super) fn solve(
    scope: &Scope<'_>,
    fixed: Option<&Placement>,
    w: Workload,
    vary: Vary,
    ceiling: u64,
) -> Option<Bound> {
    let q = scope.input.manifest.precision.quantization;
    let weights = scope.weights(q);
    let fits = |v: u64| match fixed {
        Some(p) => {
            scope
                .pricing(&weights, vary.at(w, v))
                .evaluate(p, scope.devices)
                .fits()
                && (p.cpu_layers.is_empty() || scope.input.manifest.devices.cpu_offload)
        }
        None => advice::fits_with(scope, q, vary.at(w, v)),
    };
    if !fits(1) {
        return None;
    }
    let (mut low, mut high) = (1u64, ceiling);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if fits(mid) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    if low == ceiling {
        return Some(Bound {
            value: low,
            limit: Limit::Ceiling { ceiling },
        });
    }
    // What binds: the layout that fits at `low`, priced one step further.
    let at = scope.pricing(&weights, vary.at(w, low));
    let placement = match fixed {
        Some(p) => p.clone(),
        None => place(scope, &at, &mut Vec::new(), &mut Vec::new())?.0,
    };
    let before = at.evaluate(&placement, scope.devices);
    let after = scope
        .pricing(&weights, vary.at(w, low + 1))
        .evaluate(&placement, scope.devices);
    let stage = after
        .headroom
        .iter()
        .enumerate()
        .min_by_key(|(_, h)| **h)
        .map_or(0, |(i, _)| i);
    let gpu = scope.devices[placement.stages.get(stage)?.device].gpu.index;
    Some(Bound {
        value: low,
        limit: Limit::Memory {
            gpu,
            term: grew_most(before.terms.get(stage)?, after.terms.get(stage)?),
        },
    })
}

fn grew_most(before: &Terms, after: &Terms) -> Term {
    let grew = |a: crate::units::ByteSize, b: crate::units::ByteSize| b.0.saturating_sub(a.0);
    [
        (Term::KvCache, grew(before.kv_cache, after.kv_cache)),
        (
            Term::Activations,
            grew(before.activations, after.activations),
        ),
        (Term::Weights, grew(before.weights, after.weights)),
        (Term::Overhead, grew(before.overhead, after.overhead)),
    ]
    .into_iter()
    // The first of equals: the KV cache, which grows with both.
    .reduce(|best, t| if t.1 > best.1 { t } else { best })
    .map_or(Term::KvCache, |t| t.0)
}
