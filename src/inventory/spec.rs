//! `--gpus` shorthand: `4xA100-80GB`, `2x24GiB`, `H100-80GB,RTX4090`,
//! `24GiB@8.9` (a size with its compute capability).

use super::gpu::{Gpu, Inventory, InventorySource};
use super::presets;
use crate::units::{ComputeCapability, parse_size};

/// Why a `--gpus` spec does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("`{spec}` has an empty entry; separate GPUs with single commas")]
    EmptyEntry { spec: String },
    /// Digits before the `x` that do not fit a count.
    #[error("`{count}` is not a GPU count")]
    Count { count: String },
    #[error("`{item}`: a count must be between 1 and 64")]
    CountOutOfRange { item: String },
    #[error("`{text}` is not MAJOR.MINOR")]
    Capability { text: String },
    #[error(
        "`{model}` is neither a known GPU nor a size; known GPUs: {}; or write a size such as `24GiB`",
        presets::names().join(", ")
    )]
    UnknownModel { model: String },
}

/// Parses a spec into GPUs numbered from 0.
pub fn parse(spec: &str) -> Result<Inventory, SpecError> {
    let mut gpus = Vec::new();
    for item in spec.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(SpecError::EmptyEntry {
                spec: spec.to_owned(),
            });
        }
        let (count, model) = match item.split_once(['x', 'X']) {
            Some((n, rest)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => (
                n.parse::<u32>().map_err(|_| SpecError::Count {
                    count: n.to_owned(),
                })?,
                rest,
            ),
            _ => (1, item),
        };
        if count == 0 || count > 64 {
            return Err(SpecError::CountOutOfRange {
                item: item.to_owned(),
            });
        }
        let (model, capability) = match model.split_once('@') {
            Some((m, cc)) => (m, Some(parse_capability(cc)?)),
            None => (model, None),
        };
        let (name, memory, capability) = match presets::find(model) {
            Some(p) => (
                p.full_name.to_owned(),
                p.memory,
                capability.or(Some(p.compute_capability)),
            ),
            None => match parse_size(model) {
                Ok(size) => (format!("{model} GPU"), size, capability),
                Err(_) => {
                    return Err(SpecError::UnknownModel {
                        model: model.to_owned(),
                    });
                }
            },
        };
        for _ in 0..count {
            gpus.push(Gpu {
                index: gpus.len() as u32,
                uuid: None,
                name: name.clone(),
                memory_total: memory,
                memory_used: Default::default(),
                compute_capability: capability,
                mig: false,
                processes: Vec::new(),
            });
        }
    }
    Ok(Inventory::new(
        InventorySource::Spec {
            spec: spec.to_owned(),
        },
        gpus,
    ))
}

fn parse_capability(text: &str) -> Result<ComputeCapability, SpecError> {
    ComputeCapability::parse(text).ok_or_else(|| SpecError::Capability {
        text: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ByteSize;

    #[test]
    fn parses_counts_presets_sizes_and_mixtures() {
        let inv = parse("4xA100-80GB").unwrap();
        assert_eq!(inv.gpus.len(), 4);
        assert_eq!(inv.gpus[3].index, 3);
        assert_eq!(inv.gpus[0].memory_total, ByteSize::mib(81_920));
        let inv = parse("2x24GiB").unwrap();
        assert_eq!(inv.gpus[1].memory_total, ByteSize::gib(24));
        assert_eq!(inv.gpus[1].compute_capability, None);
        let inv = parse("H100-80GB, rtx 4090").unwrap();
        assert_eq!(inv.gpus[1].name, "NVIDIA GeForce RTX 4090");
        let inv = parse("24GiB@7.5").unwrap();
        assert_eq!(
            inv.gpus[0].compute_capability,
            Some(ComputeCapability { major: 7, minor: 5 })
        );
        assert!(
            parse("4xB9000")
                .unwrap_err()
                .to_string()
                .contains("known GPUs")
        );
        assert!(parse("0xA100").is_err());
        assert!(parse("A100,,A100").is_err());
    }
}
