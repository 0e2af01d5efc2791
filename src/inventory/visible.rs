//! `CUDA_VISIBLE_DEVICES`, read the way CUDA reads it, and the translation
//! between NVML indices and the CUDA ordinals mistral.rs will see.
//!
//! CUDA's rules: unset shows every GPU; empty shows none; entries are indices,
//! `GPU-` UUIDs or unique prefixes of them, or `MIG-` instance identifiers,
//! separated by commas; the first invalid or repeated entry hides itself and
//! everything after it. Indices count in PCI bus order only under
//! `CUDA_DEVICE_ORDER=PCI_BUS_ID` (CUDA's default orders fastest first), so
//! deployctl's launches set it, and this module assumes it.

use serde::Serialize;

use super::gpu::Gpu;

/// One device CUDA will show, in ordinal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Visible {
    /// A whole GPU, by NVML index.
    Gpu { index: u32 },
    /// A MIG instance of the GPU with this NVML index (or of an unknown GPU).
    Mig { id: String, parent: Option<u32> },
}

/// Where parsing stopped, and why: everything from here on is hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stop {
    pub entry: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisibleDevices {
    /// Whether the variable is set at all.
    pub set: bool,
    pub visible: Vec<Visible>,
    pub stopped: Option<Stop>,
}

impl VisibleDevices {
    /// The CUDA ordinal of the GPU with NVML index `index`, if CUDA shows it.
    pub fn ordinal_of(&self, index: u32) -> Option<usize> {
        self.visible
            .iter()
            .position(|v| *v == Visible::Gpu { index })
    }
}

/// Reads `value` (the variable's value, `None` when unset) against `gpus`.
pub fn parse(value: Option<&str>, gpus: &[Gpu]) -> VisibleDevices {
    let Some(value) = value else {
        return VisibleDevices {
            set: false,
            visible: gpus
                .iter()
                .map(|g| Visible::Gpu { index: g.index })
                .collect(),
            stopped: None,
        };
    };
    let mut visible = Vec::new();
    let mut stopped = None;
    for raw in value.split(',') {
        let entry = raw.trim();
        if entry.is_empty() && value.trim().is_empty() {
            break;
        }
        let found = resolve(entry, gpus);
        let found = match found {
            Ok(v) if visible.contains(&v) => Err(EntryError::Repeated),
            other => other,
        };
        match found {
            Ok(v) => visible.push(v),
            Err(e) => {
                stopped = Some(Stop {
                    entry: entry.to_owned(),
                    reason: e.to_string(),
                });
                break;
            }
        }
    }
    VisibleDevices {
        set: true,
        visible,
        stopped,
    }
}

/// Why CUDA stops at an entry; the message follows the entry as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum EntryError {
    #[error("names no GPU (there is no GPU {0})")]
    NoSuchIndex(u32),
    #[error("matches no GPU's UUID")]
    NoUuidMatch,
    #[error("is a prefix of {0} GPUs' UUIDs")]
    AmbiguousPrefix(usize),
    #[error("is neither an index nor a GPU or MIG UUID")]
    Unrecognized,
    #[error("repeats an earlier entry")]
    Repeated,
}

fn resolve(entry: &str, gpus: &[Gpu]) -> Result<Visible, EntryError> {
    if let Ok(n) = entry.parse::<u32>() {
        return if gpus.iter().any(|g| g.index == n) {
            Ok(Visible::Gpu { index: n })
        } else {
            Err(EntryError::NoSuchIndex(n))
        };
    }
    if let Some(rest) = entry.strip_prefix("MIG-") {
        // `MIG-GPU-<uuid>/<gi>/<ci>` names its parent; `MIG-<uuid>` does not.
        let parent = rest
            .strip_prefix("GPU-")
            .and_then(|r| r.split('/').next())
            .and_then(|uuid| {
                gpus.iter()
                    .find(|g| g.uuid.as_deref() == Some(&format!("GPU-{uuid}")))
            })
            .map(|g| g.index);
        return Ok(Visible::Mig {
            id: entry.to_owned(),
            parent,
        });
    }
    if entry.starts_with("GPU-") {
        let matches: Vec<&Gpu> = gpus
            .iter()
            .filter(|g| g.uuid.as_deref().is_some_and(|u| u.starts_with(entry)))
            .collect();
        return match matches.as_slice() {
            [one] => Ok(Visible::Gpu { index: one.index }),
            [] => Err(EntryError::NoUuidMatch),
            _ => Err(EntryError::AmbiguousPrefix(matches.len())),
        };
    }
    Err(EntryError::Unrecognized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ByteSize;

    fn gpus() -> Vec<Gpu> {
        ["GPU-aaaa1111", "GPU-aaaa2222", "GPU-bbbb3333"]
            .iter()
            .enumerate()
            .map(|(i, uuid)| Gpu {
                index: i as u32,
                uuid: Some((*uuid).into()),
                name: "test".into(),
                memory_total: ByteSize::gib(24),
                memory_used: ByteSize(0),
                compute_capability: None,
                mig: false,
                processes: Vec::new(),
            })
            .collect()
    }

    fn indices(d: &VisibleDevices) -> Vec<u32> {
        d.visible
            .iter()
            .filter_map(|v| match v {
                Visible::Gpu { index } => Some(*index),
                Visible::Mig { .. } => None,
            })
            .collect()
    }

    #[test]
    fn unset_shows_every_gpu_and_empty_shows_none() {
        assert_eq!(indices(&parse(None, &gpus())), vec![0, 1, 2]);
        let none = parse(Some(""), &gpus());
        assert!(none.set && none.visible.is_empty() && none.stopped.is_none());
    }

    #[test]
    fn indices_reorder_and_renumber() {
        let d = parse(Some("2,0"), &gpus());
        assert_eq!(indices(&d), vec![2, 0]);
        // "GPU 2" in NVML is CUDA ordinal 0 for mistral.rs.
        assert_eq!(d.ordinal_of(2), Some(0));
        assert_eq!(d.ordinal_of(1), None);
    }

    #[test]
    fn uuids_and_unique_prefixes_resolve() {
        assert_eq!(
            indices(&parse(Some("GPU-bbbb,GPU-aaaa1111"), &gpus())),
            vec![2, 0]
        );
        let ambiguous = parse(Some("1,GPU-aaaa,2"), &gpus());
        assert_eq!(indices(&ambiguous), vec![1]);
        assert_eq!(
            ambiguous.stopped.unwrap().reason,
            "is a prefix of 2 GPUs' UUIDs"
        );
    }

    #[test]
    fn an_invalid_entry_hides_everything_after_it() {
        let d = parse(Some("0,7,1"), &gpus());
        assert_eq!(indices(&d), vec![0]);
        assert_eq!(d.stopped.as_ref().unwrap().entry, "7");
        assert_eq!(indices(&parse(Some("1,banana,2"), &gpus())), vec![1]);
        assert_eq!(indices(&parse(Some("1,1,2"), &gpus())), vec![1]);
        assert_eq!(indices(&parse(Some(" 2 , 1 "), &gpus())), vec![2, 1]);
    }

    #[test]
    fn mig_instances_take_an_ordinal_and_name_their_parent() {
        let d = parse(Some("MIG-GPU-bbbb3333/1/0,0"), &gpus());
        assert_eq!(
            d.visible[0],
            Visible::Mig {
                id: "MIG-GPU-bbbb3333/1/0".into(),
                parent: Some(2)
            }
        );
        assert_eq!(d.ordinal_of(0), Some(1));
    }
}
