//! Models resolved once per run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::manifest::Model;
use crate::model::{self, ResolveError, Resolved};
use crate::plan::memory::WeightCache;

/// Models already resolved in this run, by what the manifest says of the
/// model: `validate` over a tree, and `init` over its drafts, resolve each
/// model once (a catalog entry's config, parsed and laid out as tensors), not
/// once per manifest.
#[derive(Default)]
pub struct ModelCache(Mutex<HashMap<String, Entry>>);

/// A model resolved, and its tensors classified and weight tables for the
/// planner.
#[derive(Clone)]
pub struct Entry {
    pub resolved: Arc<Resolved>,
    pub weights: Arc<WeightCache>,
}

impl ModelCache {
    /// Records `resolved` as what `model` resolves to, when nothing is
    /// recorded for it yet: a caller that resolved the model itself (`init`,
    /// before it can write the manifest's model section) reads it once.
    pub fn remember(&self, model: &Model, resolved: Resolved) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(format!("{model:?}")).or_insert_with(|| Entry {
                weights: Arc::new(WeightCache::new(&resolved.shape)),
                resolved: Arc::new(resolved),
            });
        }
    }

    pub fn resolve(
        &self,
        model: &Model,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Entry, ResolveError> {
        // Every field of the model section, paths and revision included.
        let key = format!("{model:?}");
        if let Some(hit) = self.0.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let resolved = model::resolve(model, var)?;
        let entry = Entry {
            weights: Arc::new(WeightCache::new(&resolved.shape)),
            resolved: Arc::new(resolved),
        };
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, entry.clone());
        }
        Ok(entry)
    }
}
