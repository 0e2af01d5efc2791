//! Checks of the manifest against the model that no placement changes.

use super::finding::Finding;
use crate::diagnostic::Code;
use crate::manifest::Manifest;
use crate::manifest::values::ModelKind;
use crate::model::{Modality, ModelShape};

/// Layout keys of the config that the architecture's reader did not take.
pub(super) fn unread_keys(m: &Manifest, shape: &ModelShape, findings: &mut Vec<Finding>) {
    if shape.exact_tensors {
        return; // the checkpoint's own headers give the weights
    }
    for key in &shape.text.unread_keys {
        findings.push(
            Finding::warning(
                Code::UnmodelledConfigKey,
                format!(
                    "the model's config sets `{key}`, which deployctl does not read for {}: \
                     the planned weights and KV cache may not match what mistral.rs loads",
                    shape.architecture
                ),
            )
            .help("point `model.source` at the checkpoint directory: its safetensors headers give the weights exactly")
            .at(if m.model.config.is_some() {
                "model.config"
            } else {
                "model.source"
            }),
        );
    }
}

/// The manifest's `kind` and image settings against what the model takes.
pub(super) fn modality(m: &Manifest, shape: &ModelShape, findings: &mut Vec<Finding>) {
    match (m.model.kind, shape.modality) {
        (ModelKind::Text, Modality::Multimodal) => findings.push(
            Finding::error(
                Code::ModalityMismatch,
                format!(
                    "`model.kind` is `text`, but {} is a vision-language model",
                    shape.architecture
                ),
            )
            .help("set `kind = \"multimodal\"` (or `\"auto\"`), or deploy a text-only model")
            .at("model.kind"),
        ),
        (ModelKind::Multimodal, Modality::Text) => findings.push(
            Finding::error(
                Code::ModalityMismatch,
                format!(
                    "`model.kind` is `multimodal`, but {} takes no images",
                    shape.architecture
                ),
            )
            .help("set `kind = \"text\"` (or `\"auto\"`)")
            .at("model.kind"),
        ),
        _ => {}
    }
    if shape.modality == Modality::Text {
        for key in ["max_images", "max_image_size"] {
            let set = match key {
                "max_images" => m.workload.max_images.is_some(),
                _ => m.workload.max_image_size.is_some(),
            };
            if set && m.model.kind != ModelKind::Text {
                findings.push(
                    Finding::error(
                        Code::ModalityMismatch,
                        format!("`{key}` is set, but {} takes no images", shape.architecture),
                    )
                    .help(format!("remove `workload.{key}`"))
                    .at(&format!("workload.{key}")),
                );
            }
        }
    }
}
