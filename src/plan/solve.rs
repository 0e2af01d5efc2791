//! Solving over the planner's own model: whether the manifest's strategy fits
//! at a quantization and workload, and the largest context or batch that
//! fits, with what stops it there.

use super::capacity::{Bound, Capacity, Figure, Limit, Term};
use super::memory::{Terms, Workload};
use super::placement::Placement;
use super::scope::Scope;
use super::strategy::place;
use crate::units::Quantization;

/// The most sequences a capacity search tries.
pub(super) const MAX_BATCH: u64 = 1024;

/// Whether the manifest's strategy fits with quantization `q` and `workload`.
pub(super) fn fits_with(scope: &Scope<'_>, q: Quantization, workload: Workload) -> bool {
    let weights = scope.weights(q);
    let pricing = scope.pricing(&weights, workload);
    let Some((placement, _)) = place(scope, &pricing, &mut Vec::new(), &mut Vec::new()) else {
        return false;
    };
    pricing.evaluate(&placement, scope.devices).fits()
        && (placement.cpu_layers.is_empty() || scope.input.manifest.devices.cpu_offload)
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
        max_seq_len: solve(scope, Some(placement), w, Figure::SeqLen, context.max(1)),
        max_batch_size: solve(scope, Some(placement), w, Figure::Batch, MAX_BATCH),
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
    figure: Figure,
    ceiling: u64,
) -> Option<Bound> {
    let q = scope.input.manifest.precision.quantization;
    let weights = scope.weights(q);
    let fits = |v: u64| match fixed {
        Some(p) => {
            scope
                .pricing(&weights, figure.at(w, v))
                .evaluate(p, scope.devices)
                .fits()
                && (p.cpu_layers.is_empty() || scope.input.manifest.devices.cpu_offload)
        }
        None => fits_with(scope, q, figure.at(w, v)),
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
    let at = scope.pricing(&weights, figure.at(w, low));
    let placement = match fixed {
        Some(p) => p.clone(),
        None => place(scope, &at, &mut Vec::new(), &mut Vec::new())?.0,
    };
    let before = at.evaluate(&placement, scope.devices);
    let after = scope
        .pricing(&weights, figure.at(w, low + 1))
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
