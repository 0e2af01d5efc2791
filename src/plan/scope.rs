//! What every pricing of one plan shares.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::devices::Device;
use super::memory::{WeightCache, WeightTable, Workload};
use super::placement::{Placement, Pricing};
use super::{Input, Prepared};
use crate::units::{DType, Quantization};

static NO_OVERRIDES: BTreeMap<u64, Quantization> = BTreeMap::new();

/// The weight cache a plan prices with: the caller's, kept between plans of
/// one model, or one made for this plan.
pub(super) enum Weights<'a> {
    Shared(&'a WeightCache),
    Own(WeightCache),
}

impl std::ops::Deref for Weights<'_> {
    type Target = WeightCache;

    fn deref(&self) -> &WeightCache {
        match self {
            Weights::Shared(cache) => cache,
            Weights::Own(cache) => cache,
        }
    }
}

/// What every pricing of one plan shares: the inputs, the selected devices,
/// the resolved dtype, and a manual map with its quantization overrides.
pub(super) struct Scope<'a> {
    pub input: &'a Input<'a>,
    pub devices: &'a [Device],
    pub dtype: DType,
    pub manual: Option<&'a Placement>,
    pub overrides: &'a BTreeMap<u64, Quantization>,
    /// The model's tensors classified, and its weight tables without overrides.
    pub cache: Weights<'a>,
    /// Weight tables with the manual map's overrides, by quantization.
    pub tables: std::cell::RefCell<Vec<(Quantization, Arc<WeightTable>)>>,
}

impl<'a> Scope<'a> {
    pub(super) fn new(input: &'a Input<'a>, prepared: &'a Prepared) -> Scope<'a> {
        Scope {
            input,
            devices: &prepared.devices,
            dtype: prepared.dtype,
            manual: prepared.manual.as_ref().map(|m| &m.placement),
            overrides: prepared
                .manual
                .as_ref()
                .map_or(&NO_OVERRIDES, |m| &m.quantization),
            cache: match input.weights {
                Some(shared) => Weights::Shared(shared),
                None => Weights::Own(WeightCache::new(input.shape)),
            },
            tables: Default::default(),
        }
    }

    pub(super) fn weights(&self, q: Quantization) -> Arc<WeightTable> {
        let shape = self.input.shape;
        if self.overrides.is_empty() {
            return self.cache.table(shape, self.dtype, q);
        }
        if let Some((_, t)) = self.tables.borrow().iter().find(|(k, _)| *k == q) {
            return t.clone();
        }
        let table = Arc::new(WeightTable::from_classified(
            shape,
            self.cache.classified(),
            self.dtype,
            q,
            &|l| self.overrides.get(&l).copied(),
        ));
        self.tables.borrow_mut().push((q, table.clone()));
        table
    }

    pub(super) fn pricing<'w>(
        &'w self,
        weights: &'w WeightTable,
        workload: Workload,
    ) -> Pricing<'w> {
        Pricing {
            shape: self.input.shape,
            weights,
            isq: self.input.manifest.precision.quantization != Quantization::None,
            dtype: self.dtype,
            kv: self.input.manifest.precision.kv_cache,
            workload,
            settings: self.input.settings,
        }
    }
}
