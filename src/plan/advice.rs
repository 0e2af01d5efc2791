//! What-if searches over the planner's own model: would the manifest fit
//! with a shorter context, a quantization, more GPUs. Pure, like the planner.

use super::memory::{self, Workload};
use super::scope::Scope;
use super::solve::fits_with;
use super::strategy;
use super::{Input, prepare, workload};
use crate::units::Quantization;

/// What would make the manifest fit, each found by replanning its strategy
/// over the planner's own memory model. Empty when nothing tried fits (or the
/// plan fits already: each answer is a change that fits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advice {
    /// The largest `max_seq_len` that fits, when shorter than the one asked.
    pub largest_context: Option<u64>,
    /// The least lossy quantization below the manifest's that fits.
    pub quantization: Option<Quantization>,
    /// The fewest GPUs like the roomiest one a pipeline would fit on, when
    /// more than there are, and that GPU's label.
    pub gpus: Option<(usize, String)>,
}

impl Advice {
    /// The answers as help clauses, in the order above.
    pub fn clauses(&self) -> Vec<String> {
        let mut help = Vec::new();
        if let Some(s) = self.largest_context {
            help.push(format!("the largest `max_seq_len` that fits is {s}"));
        }
        if let Some(q) = self.quantization {
            help.push(format!("`quantization = \"{}\"` would fit", q.name()));
        }
        if let Some((n, label)) = &self.gpus {
            help.push(format!("a pipeline over {n} GPUs like {label} would fit"));
        }
        help
    }
}

/// What would make `input`'s manifest fit; `None` when no plan can be laid
/// out at all (the planner's findings say why).
pub fn advise(input: &Input<'_>) -> Option<Advice> {
    let (mut findings, mut decisions) = (Vec::new(), Vec::new());
    let prepared = prepare(input, &mut findings, &mut decisions)?;
    let scope = Scope::new(input, &prepared);
    let w = workload::solve_auto(&scope, prepared.workload, &mut findings, &mut decisions);
    Some(search(&scope, w))
}

/// The largest `max_seq_len` with which the plan fits, by bisection.
fn largest_context(scope: &Scope<'_>, w: Workload) -> Option<u64> {
    let q = scope.input.manifest.precision.quantization;
    let fits = |s: u64| fits_with(scope, q, Workload { seq_len: s, ..w });
    if !fits(1) {
        return None;
    }
    let (mut lo, mut hi) = (1u64, w.seq_len);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    (lo < w.seq_len).then_some(lo)
}

/// Every answer, for the manifest's strategy at `workload`.
pub(super) fn search(scope: &Scope<'_>, workload: Workload) -> Advice {
    Advice {
        largest_context: largest_context(scope, workload),
        quantization: smallest_quantization(scope, workload),
        gpus: gpus_needed(scope, workload),
    }
}

/// How many GPUs like the roomiest one a pipeline needs, at the manifest's
/// precision, when more than there are; up to 64.
fn gpus_needed(scope: &Scope<'_>, w: Workload) -> Option<(usize, String)> {
    let largest = scope.devices.iter().max_by_key(|d| d.limit.0)?;
    let weights = scope.weights(scope.input.manifest.precision.quantization);
    let pricing = scope.pricing(&weights, w);
    const MOST: usize = 64;
    let copies = vec![largest.clone(); MOST];
    let order: Vec<usize> = (0..MOST).collect();
    let fits = |n: usize| {
        let (copies, order) = (&copies[..n], &order[..n]);
        strategy::pipeline_split(&pricing, copies, order, false)
            .is_some_and(|placement| pricing.evaluate(&placement, copies).fits())
    };
    // More copies of one GPU never make a pipeline fit worse, so the fewest
    // that fit are found by bisection: some 6 plans, not up to 63.
    let (mut low, mut high) = (scope.devices.len() + 1, MOST);
    if !fits(high) {
        return None;
    }
    while low < high {
        let mid = low + (high - low) / 2;
        if fits(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Some((low, largest.gpu.label()))
}

/// The least aggressive quantization with which the plan fits.
fn smallest_quantization(scope: &Scope<'_>, w: Workload) -> Option<Quantization> {
    use Quantization::*;
    let current =
        memory::bits_per_weight(scope.input.manifest.precision.quantization).unwrap_or(16.0);
    [Q8_0, Q6K, Q5K, Q4K, Q3K, Q2K]
        .into_iter()
        .filter(|q| memory::bits_per_weight(*q).is_some_and(|bits| bits < current))
        .find(|q| fits_with(scope, *q, w))
}
