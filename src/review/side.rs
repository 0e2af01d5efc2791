//! One manifest as planned at one revision: what a reviewer compares.

use schemars::JsonSchema;
use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::plan::{Capacity, Kind, Plan};

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Side {
    /// The deployment name, when the manifest is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// No error in the input: the manifest, its model, its layer map.
    pub valid: bool,
    /// Planned, and within every limit.
    pub fits: bool,
    /// `tensor parallel ×4`, `pipeline over 2 GPUs`; absent when not planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_seq_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    pub devices: Vec<DeviceRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// The `mistralrs serve` command line the plan compiles to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<String>,
    /// Every error and warning, in file and line order.
    pub findings: Vec<FindingRow>,
    /// A digest of the files it was read from (the manifest, what it
    /// extends, its model config): a change in any makes it changed.
    #[serde(skip)]
    #[schemars(skip)]
    pub inputs: u64,
}

/// One GPU's memory, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DeviceRow {
    /// The GPU's index in the inventory.
    pub gpu: u32,
    pub name: String,
    /// Decoder layers: `0-17`, `18-35`, or `all` under tensor parallelism.
    pub layers: String,
    pub weights: u64,
    pub kv_cache: u64,
    pub activations: u64,
    pub overhead: u64,
    pub total: u64,
    pub limit: u64,
    /// `limit − total`; negative when over.
    pub headroom: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct FindingRow {
    /// `error` or `warning`.
    pub severity: String,
    /// Stable code, e.g. `deployctl::plan::does_not_fit`.
    pub code: String,
    pub message: String,
    /// The file, relative to the repository root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Side {
    /// The side of a manifest with these findings and this plan (if one was
    /// made); `file` names a diagnostic's file as the reviewer reads it
    /// (relative to the repository root).
    pub fn new(
        name: Option<String>,
        plan: Option<&Plan>,
        launch: Option<String>,
        diagnostics: &[Diagnostic],
        file: &dyn Fn(&str) -> String,
        inputs: u64,
    ) -> Side {
        let errors = || diagnostics.iter().filter(|d| d.is_error());
        let valid = !errors().any(|d| !d.code.is_misfit());
        let findings = diagnostics
            .iter()
            .map(|d| {
                let location = d.location();
                FindingRow {
                    severity: if d.is_error() { "error" } else { "warning" }.into(),
                    code: d.code.as_str().into(),
                    message: d.message.clone(),
                    file: location.as_ref().map(|l| file(&l.file)),
                    line: location.map(|l| l.line),
                }
            })
            .collect();
        Side {
            name: name.filter(|_| valid),
            valid,
            fits: valid && plan.is_some() && errors().next().is_none(),
            strategy: plan.map(|p| p.strategy.describe(p.devices.len())),
            max_seq_len: plan.map(|p| p.max_seq_len),
            max_batch_size: plan.map(|p| p.max_batch_size),
            quantization: plan.map(|p| p.quantization.name().to_owned()),
            devices: plan.map_or_else(Vec::new, device_rows),
            capacity: plan.and_then(|p| p.capacity.clone()),
            launch,
            findings,
            inputs,
        }
    }

    /// The GPU with the least headroom, and that headroom.
    pub fn tightest(&self) -> Option<&DeviceRow> {
        self.devices.iter().min_by_key(|d| d.headroom)
    }
}

fn device_rows(plan: &Plan) -> Vec<DeviceRow> {
    let tensor = matches!(plan.strategy, Kind::Tensor { .. });
    plan.devices
        .iter()
        .map(|d| DeviceRow {
            gpu: d.index,
            name: d.name.clone(),
            layers: if tensor {
                "all".into()
            } else if d.layers.is_empty() {
                "none".into()
            } else {
                crate::plan::range_texts(&d.layers).join(", ")
            },
            weights: d.weights.0,
            kv_cache: d.kv_cache.0,
            activations: d.activations.0,
            overhead: d.overhead.0,
            total: d.total.0,
            limit: d.limit.0,
            headroom: d.headroom,
        })
        .collect()
}
