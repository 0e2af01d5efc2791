//! Building a placement for each strategy: single GPU, tensor parallel,
//! pipeline, a manual map, and the `auto` choice among them. `place` picks the
//! manifest's; each strategy's file holds its checks and its layout.

mod auto;
mod manual;
mod pipeline;
mod tensor;

pub(super) use manual::{Manual, manual};
pub(super) use pipeline::pipeline_split;
pub use tensor::{sharded_dims, sharded_dims_text, valid_tensor_sizes};

use super::candidate::CandidateReport;
use super::decision::Decision;
use super::finding::Finding;
use super::placement::{Kind, Placement, Pricing};
use super::scope::Scope;
use crate::manifest::Parallelism;

/// The placement the manifest's strategy makes, with `auto`'s candidates and
/// the placement each stands for; `None` when the strategy cannot be laid out
/// (the findings say why).
pub(super) fn place(
    scope: &Scope<'_>,
    pricing: &Pricing<'_>,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Option<(Placement, Vec<(CandidateReport, Placement)>)> {
    let m = scope.input.manifest;
    let layers = scope.input.shape.text.layers;
    if scope.devices.is_empty() {
        decisions.push(Decision::CpuOnly);
        let p = Placement {
            kind: Kind::Cpu,
            stages: Vec::new(),
            cpu_layers: (0..layers).collect(),
        };
        return Some((p, Vec::new()));
    }
    let placement = match &m.parallelism {
        Parallelism::Manual(_) => {
            decisions.push(Decision::ManualMap);
            scope.manual?.clone()
        }
        Parallelism::Pipeline {
            layers: Some(counts),
        } => pipeline::by_counts(scope, counts, findings, decisions)?,
        Parallelism::Pipeline { layers: None } => {
            pipeline::by_room(scope, pricing, findings, decisions)?
        }
        Parallelism::Tensor { size } => tensor::group(scope, *size, findings, decisions)?,
        Parallelism::Auto => return auto::place(scope, pricing, decisions),
    };
    Some((placement, Vec::new()))
}
