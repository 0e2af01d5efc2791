//! What every pricing of one plan shares.

use std::collections::BTreeMap;

use super::devices::Device;
use super::memory::{self, WeightTable, Workload};
use super::placement::{Placement, Pricing};
use super::{Input, Prepared};
use crate::units::{DType, Quantization};

static NO_OVERRIDES: BTreeMap<u64, Quantization> = BTreeMap::new();

/// What every pricing of one plan shares: the inputs, the selected devices,
/// the resolved dtype, and a manual map with its quantization overrides.
pub(super) struct Scope<'a> {
    pub input: &'a Input<'a>,
    pub devices: &'a [Device],
    pub dtype: DType,
    pub manual: Option<&'a Placement>,
    pub overrides: &'a BTreeMap<u64, Quantization>,
    /// Every tensor, classified once.
    pub tensors: std::borrow::Cow<'a, [memory::Classified]>,
    /// Weight tables already built, by quantization: explaining a misfit
    /// tries each quantization many times.
    pub tables: std::cell::RefCell<Vec<(Quantization, WeightTable)>>,
}

impl<'a> Scope<'a> {
    pub fn new(input: &'a Input<'a>, prepared: &'a Prepared) -> Scope<'a> {
        Scope {
            input,
            devices: &prepared.devices,
            dtype: prepared.dtype,
            manual: prepared.manual.as_ref().map(|m| &m.placement),
            overrides: prepared
                .manual
                .as_ref()
                .map_or(&NO_OVERRIDES, |m| &m.quantization),
            tensors: input.classified.map_or_else(
                || std::borrow::Cow::Owned(memory::classify(input.shape)),
                std::borrow::Cow::Borrowed,
            ),
            tables: Default::default(),
        }
    }

    pub fn weights(&self, q: Quantization) -> WeightTable {
        if let Some((_, t)) = self.tables.borrow().iter().find(|(k, _)| *k == q) {
            return t.clone();
        }
        let table =
            WeightTable::from_classified(self.input.shape, &self.tensors, self.dtype, q, &|l| {
                self.overrides.get(&l).copied()
            });
        self.tables.borrow_mut().push((q, table.clone()));
        table
    }

    pub fn pricing<'w>(&'w self, weights: &'w WeightTable, workload: Workload) -> Pricing<'w> {
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
