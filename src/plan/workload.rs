//! The workload a plan serves: the manifest's figures, and its `"auto"` ones
//! solved over the priced devices.

use super::capacity::Figure;
use super::decision::Decision;
use super::finding::Finding;
use super::memory::Workload;
use super::scope::Scope;
use super::solve;
use crate::diagnostic::Code;
use crate::manifest::{Amount, Manifest};
use crate::model::{Modality, ModelShape};

/// Solves the workload's `"auto"` figures over the priced devices, as the
/// manifest's strategy would place each value: the context first (for one
/// sequence, when the batch is solved too), then the sequences at that
/// context. Nothing fitting at all solves to 1, which the misfit explains.
pub(super) fn solve_auto(
    scope: &Scope<'_>,
    mut w: Workload,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Workload {
    let m = scope.input.manifest;
    let context = scope.input.shape.text.max_position_embeddings;
    if let Some(Amount::Auto { max }) = m.workload.max_seq_len {
        let ceiling = max.unwrap_or(context);
        let bound = solve::solve(scope, None, w, Figure::SeqLen, ceiling);
        w.seq_len = bound.map_or(1, |b| b.value);
        decisions.push(Decision::Solved {
            figure: Figure::SeqLen,
            bound,
            other: w.batch,
        });
    }
    if let Amount::Auto { max } = m.workload.max_batch_size {
        let ceiling = max.unwrap_or(solve::MAX_BATCH);
        let bound = solve::solve(scope, None, w, Figure::Batch, ceiling);
        w.batch = bound.map_or(1, |b| b.value);
        decisions.push(Decision::Solved {
            figure: Figure::Batch,
            bound,
            other: w.seq_len,
        });
        if let Some(max_seqs) = m.server.max_seqs.filter(|s| u64::from(*s) > w.batch) {
            findings.push(
                Finding::warning(
                    Code::MaxSeqsAboveBatch,
                    format!(
                        "the server admits {max_seqs} sequences at once, but `max_batch_size = \"auto\"` solves to {}",
                        w.batch
                    ),
                )
                .help(format!(
                    "remove `server.max_seqs` (it then follows the batch size), or set it to {}",
                    w.batch
                ))
                .at("server.max_seqs"),
            );
        }
    }
    w
}

/// The workload the manifest asks for; an `"auto"` figure holds its ceiling
/// until `solve_auto`.
pub(super) fn asked(
    m: &Manifest,
    shape: &ModelShape,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Workload {
    let context = shape.text.max_position_embeddings;
    let seq_len = match m.workload.max_seq_len {
        // Solved once the devices are priced (`solve_auto`); until then the
        // ceiling, which is what the longest context would need.
        Some(Amount::Auto { max }) => max.unwrap_or(context),
        Some(Amount::Fixed(s)) => {
            if s > context {
                findings.push(
                    Finding::warning(
                        Code::ContextAboveModel,
                        format!(
                            "max_seq_len {s} is beyond the {} tokens {} was trained for",
                            shape.text.max_position_embeddings, shape.architecture
                        ),
                    )
                    .help(format!(
                        "quality degrades past the trained context; consider `max_seq_len = {}`",
                        shape.text.max_position_embeddings
                    ))
                    .at("workload.max_seq_len"),
                );
            }
            s
        }
        None => {
            decisions.push(Decision::ContextUnset {
                tokens: shape.text.max_position_embeddings,
            });
            shape.text.max_position_embeddings
        }
    };
    let multimodal = shape.modality == Modality::Multimodal;
    let images = if multimodal {
        u64::from(m.workload.max_images.unwrap_or(1))
    } else {
        0
    };
    let size = m.workload.max_image_size.unwrap_or([1024, 1024]);
    Workload {
        batch: match m.workload.max_batch_size {
            Amount::Fixed(n) => n,
            Amount::Auto { .. } => 1,
        },
        seq_len,
        images,
        image_size: (u64::from(size[0]), u64::from(size[1])),
    }
}
