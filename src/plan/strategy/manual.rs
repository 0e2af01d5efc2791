//! A hand-written layer map: per-layer devices and quantization, checked
//! against the model's own layers and module names.

use std::collections::BTreeMap;

use super::super::devices::Device;
use super::super::finding::Finding;
use super::super::placement::{Kind, Placement, Stage};
use super::super::ranges::ranges_text;
use crate::diagnostic::{Code, suggest};
use crate::manifest::{self, LayerMap};
use crate::model::{ModelShape, Part};
use crate::units::Quantization;

/// The device index that holds `gpu`.
fn device_of(devices: &[Device], gpu: &manifest::Gpu) -> Option<usize> {
    devices.iter().position(|d| match gpu {
        manifest::Gpu::Ordinal(n) => d.gpu.index == *n,
        manifest::Gpu::Uuid(id) => d
            .gpu
            .uuid
            .as_deref()
            .is_some_and(|u| u.starts_with(id.as_str())),
    })
}

/// A manual map: per-layer devices and quantization, checked against the model.
pub(crate) struct Manual {
    pub placement: Placement,
    pub quantization: BTreeMap<u64, Quantization>,
}

pub(crate) fn manual(
    map: &LayerMap,
    shape: &ModelShape,
    devices: &[Device],
    findings: &mut Vec<Finding>,
) -> Option<Manual> {
    let layers = shape.text.layers;
    let mut owner: Vec<Option<usize>> = vec![None; layers as usize];
    let mut quantization = BTreeMap::new();
    let mut ok = true;
    match map {
        LayerMap::Ranges(ranges) => {
            for (i, range) in ranges.iter().enumerate() {
                let Some(device) = device_of(devices, &range.gpu) else {
                    continue;
                };
                if u64::from(*range.layers.end()) >= layers {
                    ok = false;
                    findings.push(
                        Finding::error(
                            Code::LayerOutOfRange,
                            format!(
                                "the map names layer {}, but {} has layers 0-{}",
                                range.layers.end(),
                                shape.architecture,
                                layers - 1
                            ),
                        )
                        .help(format!("end the last range at {}", layers - 1))
                        .at(&format!("parallelism.map.{i}.layers")),
                    );
                }
                for l in range.layers.clone() {
                    if let Some(slot) = owner.get_mut(l as usize) {
                        *slot = Some(device);
                        if let Some(q) = range.quantization {
                            quantization.insert(u64::from(l), q);
                        }
                    }
                }
            }
        }
        LayerMap::File { entries, .. } => {
            let modules = module_names(shape);
            let mut claimed_by: BTreeMap<u64, String> = BTreeMap::new();
            for (name, gpu) in entries {
                let Some(device) = device_of(devices, gpu) else {
                    continue;
                };
                let known = shape
                    .tensors
                    .iter()
                    .any(|t| t.name == *name || t.name.starts_with(&format!("{name}.")));
                if !known {
                    ok = false;
                    let mut finding = Finding::error(
                        Code::UnknownModule,
                        format!("`{name}` in the layer map matches no tensor of the checkpoint"),
                    )
                    .at("parallelism.map_file");
                    let help = match suggest::closest(name, modules.iter().map(String::as_str)) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!(
                            "module names look like `{}`",
                            modules.first().cloned().unwrap_or_default()
                        ),
                    };
                    finding = finding.help(help);
                    findings.push(finding);
                    continue;
                }
                let parts: Vec<Part> = shape
                    .tensors
                    .iter()
                    .filter(|t| t.name == *name || t.name.starts_with(&format!("{name}.")))
                    .map(|t| t.part())
                    .collect();
                match parts.first() {
                    Some(Part::Layer(l)) if parts.iter().all(|p| *p == Part::Layer(*l)) => {
                        // mistral.rs places whole layers: two entries sending
                        // parts of one layer to different GPUs cannot both hold.
                        match (owner[*l as usize], claimed_by.get(l)) {
                            (Some(other), Some(first)) if other != device => {
                                ok = false;
                                findings.push(
                                    Finding::error(
                                        Code::OverlappingLayers,
                                        format!(
                                            "layer {l} is mapped twice: `{first}` sends it to {}, `{name}` to {}",
                                            devices[other].gpu.label(),
                                            devices[device].gpu.label()
                                        ),
                                    )
                                    .help("mistral.rs places whole layers; give each layer one GPU")
                                    .at("parallelism.map_file"),
                                );
                            }
                            _ => {
                                owner[*l as usize] = Some(device);
                                claimed_by.entry(*l).or_insert_with(|| name.clone());
                            }
                        }
                    }
                    _ if device != 0 => findings.push(
                        Finding::warning(
                            Code::IgnoredMapEntry,
                            format!(
                                "`{name}` is mapped to {}, but mistral.rs keeps embeddings, lm_head, norms and the vision tower on the first GPU",
                                devices[device].gpu.label()
                            ),
                        )
                        .help("map only decoder layers (`model.layers.N`); the first GPU in `devices.gpus` holds the rest")
                        .at("parallelism.map_file"),
                    ),
                    _ => {}
                }
            }
        }
    }
    let missing: Vec<u64> = (0..layers)
        .filter(|l| owner[*l as usize].is_none())
        .collect();
    if !missing.is_empty() {
        findings.push(
            Finding::error(
                Code::LayersUnmapped,
                format!("the layer map gives no GPU to {}", ranges_text(&missing)),
            )
            .help(format!(
                "mistral.rs would put unmapped layers on the CPU; map all {layers} layers (0-{})",
                layers - 1
            ))
            .at(match map {
                LayerMap::Ranges(_) => "parallelism.map",
                LayerMap::File { .. } => "parallelism.map_file",
            }),
        );
        ok = false;
    }
    if !ok {
        return None;
    }
    // Stages in the order layers visit them; a device may appear once per run.
    let mut stages: Vec<Stage> = Vec::new();
    for (l, device) in owner.iter().enumerate() {
        let device = device.expect("every layer is mapped");
        match stages.last_mut() {
            Some(stage) if stage.device == device => stage.layers.push(l as u64),
            _ => stages.push(Stage {
                device,
                layers: vec![l as u64],
            }),
        }
    }
    Some(Manual {
        placement: Placement {
            kind: Kind::Manual,
            stages,
            cpu_layers: Vec::new(),
        },
        quantization,
    })
}

/// Module names a device map may use: every tensor name without its last
/// component, and each of their ancestors.
fn module_names(shape: &ModelShape) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for t in &shape.tensors {
        let mut name = t.name.as_str();
        while let Some((parent, _)) = name.rsplit_once('.') {
            names.insert(parent.to_owned());
            name = parent;
        }
    }
    names.into_iter().collect()
}
