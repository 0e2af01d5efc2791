//! The built-in catalog: architectures deployctl can plan without weights.
//! The data lives in `catalog/` (an index and each model's `config.json`, copied
//! from the address its entry names) and is embedded at build time.

use include_dir::{Dir, include_dir};
use serde::Deserialize;

static CATALOG: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/catalog");

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// Hub id, e.g. `Qwen/Qwen2.5-VL-7B-Instruct`.
    pub id: String,
    /// The config's path inside `catalog/`, when the entry has one.
    pub config: Option<String>,
    /// Where the config was copied from.
    pub source: Option<String>,
    pub architecture: Option<String>,
    /// The published parameter count, as the source rounds it.
    pub parameters: Option<u64>,
    pub safetensors_bytes: Option<u64>,
    #[serde(default)]
    pub notes: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Index {
    model: Vec<Entry>,
}

/// Every catalog entry.
pub fn entries() -> &'static [Entry] {
    // Decoded once: `validate` over a tree looks it up for every manifest.
    static ENTRIES: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
    ENTRIES.get_or_init(|| {
        let text = CATALOG
            .get_file("index.toml")
            .and_then(|f| f.contents_utf8())
            .expect("catalog/index.toml is embedded");
        toml::from_str::<Index>(text)
            .expect("catalog/index.toml is valid (tested)")
            .model
    })
}

/// The entry for a hub id (case-insensitive), and its config text.
pub fn lookup(id: &str) -> Option<(Entry, Option<&'static str>)> {
    let entry = entries()
        .iter()
        .find(|e| e.id.eq_ignore_ascii_case(id))?
        .clone();
    let config = entry
        .config
        .as_deref()
        .and_then(|path| CATALOG.get_file(path))
        .and_then(|f| f.contents_utf8());
    Some((entry, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_with_a_config_parses_into_a_shape() {
        let entries = entries();
        assert!(entries.len() >= 27, "{} entries", entries.len());
        for entry in entries {
            let Some((entry, Some(text))) = lookup(&entry.id) else {
                continue;
            };
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            assert!(entry.source.is_some(), "{} has no source address", entry.id);
            let class = json["architectures"][0].as_str().unwrap_or_default();
            assert_eq!(entry.architecture.as_deref(), Some(class), "{}", entry.id);
            if crate::model::architectures::find(class).is_none() {
                continue; // listed so that planning it can name the architecture
            }
            let shape = crate::model::from_config(&json);
            assert!(shape.is_ok(), "{}: {:?}", entry.id, shape.err());
            let shape = shape.unwrap();
            assert!(
                shape.text.unread_keys.is_empty(),
                "{}: layout keys not read: {:?}",
                entry.id,
                shape.text.unread_keys
            );
        }
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;
    use crate::model::StoredDtype;

    /// Parameters of a laid-out model: elements, with MXFP4 blocks counted as
    /// two 4-bit weights a byte and their scales as none.
    fn parameters(shape: &crate::model::ModelShape) -> u64 {
        shape
            .tensors
            .iter()
            .map(|t| match t.dtype {
                StoredDtype::I8 if t.name.ends_with("_blocks") => t.elements() * 2,
                StoredDtype::I8 if t.name.ends_with("_scales") => 0,
                _ => t.elements(),
            })
            .sum()
    }

    /// Every catalog model with a published parameter count lays out to it,
    /// within one unit of the figure's last digit (cards round or truncate:
    /// Qwen2.5-7B's 7.61B is 7,615,616,512 by its checkpoint) and at most 0.5 %. The architectures these hold are the ones
    /// `architectures::Layout::Modelled` names.
    #[test]
    fn laid_out_parameters_match_published_counts() {
        let mut checked = std::collections::BTreeSet::new();
        for entry in entries() {
            let (Some(published), Some((_, Some(text)))) = (entry.parameters, lookup(&entry.id))
            else {
                continue;
            };
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            let shape = crate::model::from_config(&json).unwrap();
            let laid_out = parameters(&shape);
            // The last significant digit of the published figure.
            let digit = 10u64.pow(published.trailing_zeros_decimal());
            let off = laid_out.abs_diff(published);
            println!(
                "{}: laid out {laid_out}, published {published} (±{}), {:+.3}%",
                entry.id,
                digit,
                (laid_out as f64 / published as f64 - 1.0) * 100.0
            );
            assert!(
                off < digit && (off as f64) < published as f64 * 0.005,
                "{}: {laid_out} parameters laid out, {published} published",
                entry.id
            );
            checked.insert(shape.architecture);
        }
        for a in crate::model::architectures::SUPPORTED {
            if a.layout == crate::model::architectures::Layout::Modelled
                && !checked.contains(a.class)
                && !sized_by_checkpoint(a.class)
            {
                panic!(
                    "{} is called modelled, but no catalog figure checks it",
                    a.class
                );
            }
        }
    }

    /// Architectures held to a checkpoint's `total_size` instead.
    fn sized_by_checkpoint(class: &str) -> bool {
        entries()
            .iter()
            .any(|e| e.safetensors_bytes.is_some() && e.architecture.as_deref() == Some(class))
    }

    trait DecimalZeros {
        fn trailing_zeros_decimal(self) -> u32;
    }

    impl DecimalZeros for u64 {
        fn trailing_zeros_decimal(self) -> u32 {
            let mut n = self;
            let mut zeros = 0;
            while n > 0 && n % 10 == 0 {
                n /= 10;
                zeros += 1;
            }
            zeros
        }
    }

    /// The tensors laid out from a config add up to the checkpoint's published
    /// size (`metadata.total_size` of its `model.safetensors.index.json`).
    #[test]
    fn laid_out_tensors_match_published_checkpoint_sizes() {
        for entry in entries() {
            let (Some(expected), Some((_, Some(text)))) =
                (entry.safetensors_bytes, lookup(&entry.id))
            else {
                continue;
            };
            let json: serde_json::Value = serde_json::from_str(text).unwrap();
            let shape = crate::model::from_config(&json).unwrap();
            let total: u64 = shape.tensors.iter().map(|t| t.bytes).sum();
            let off = total as f64 / expected as f64 - 1.0;
            println!(
                "{}: laid out {total}, published {expected}, {:+.4}%",
                entry.id,
                off * 100.0
            );
            assert!(off.abs() < 0.001, "{}: {total} vs {expected}", entry.id);
        }
    }
}
