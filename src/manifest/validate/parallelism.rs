//! `[parallelism]`: the strategy and its options, and manual layer maps.

use super::devices::is_device_uuid;
use super::{Checker, GpuCount, json, path, plural};
use crate::diagnostic::{Code, Place, SourceText, display_path, io_reason, suggest};
use crate::manifest::normalize::normalize;
use crate::manifest::path::KeyPath;
use crate::manifest::validated::*;
use crate::manifest::values::Strategy;
use crate::manifest::wire::{self};

impl Checker<'_> {
    pub(super) fn parallelism(&mut self, raw: wire::RawParallelism) -> Option<Parallelism> {
        let strategy = raw.strategy.unwrap_or_default();
        let owners = [
            ("tensor_size", raw.tensor_size.is_some(), Strategy::Tensor),
            ("layers", raw.layers.is_some(), Strategy::Pipeline),
            ("map", raw.map.is_some(), Strategy::Manual),
            ("map_file", raw.map_file.is_some(), Strategy::Manual),
        ];
        let mut ok = true;
        for (key, set, owner) in owners {
            if set && strategy != owner {
                ok = false;
                let at = self.key(&path(&format!("parallelism.{key}")));
                self.error(
                    Code::StrategyMismatch,
                    at,
                    format!(
                        "`{key}` applies to `strategy = \"{}\"`, but the strategy is `{}`",
                        owner.name(),
                        strategy.name()
                    ),
                )
                .with_label(format!("only for `{}`", owner.name()))
                .with_help(format!(
                    "remove `{key}`, or set `strategy = \"{}\"`",
                    owner.name()
                ));
            }
        }
        let long_layers = raw
            .layers
            .as_ref()
            .is_some_and(|l| !self.list_fits("parallelism.layers", l.len()));
        let long_map = raw
            .map
            .as_ref()
            .is_some_and(|l| !self.list_fits("parallelism.map", l.len()));
        if long_layers || long_map {
            return None;
        }
        let parallelism = match strategy {
            Strategy::Auto => Some(Parallelism::Auto),
            Strategy::Tensor => self.tensor(raw.tensor_size),
            Strategy::Pipeline => self.pipeline(raw.layers),
            Strategy::Manual => self.manual(&raw),
        };
        parallelism.filter(|_| ok)
    }

    fn tensor(&mut self, size: Option<u32>) -> Option<Parallelism> {
        let Some(size) = size else {
            return Some(Parallelism::Tensor { size: None });
        };
        let count = self.gpu_count;
        let available = count.map(|c| c.n);
        let valid_sizes = |n: usize| {
            (0..)
                .map(|k| 1usize << k)
                .take_while(|s| *s <= n)
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let p = path("parallelism.tensor_size");
        if !size.is_power_of_two() {
            let at = self.value(&p);
            let help = match available {
                Some(n) => format!("valid sizes for {n} GPUs: {}", valid_sizes(n)),
                None => "use a power of two: 1, 2, 4, 8".into(),
            };
            self.error(
                Code::InvalidTensorSize,
                at,
                format!("tensor-parallel size {size} is not a power of two"),
            )
            .with_label("mistral.rs needs a power of two")
            .with_help(help);
            return None;
        }
        if let Some(GpuCount { n, from }) = count {
            if size as usize > n {
                let at = self.value(&p);
                self.error(
                    Code::InvalidTensorSize,
                    at,
                    format!("tensor-parallel size {size} needs {size} GPUs, but {from} {n}"),
                )
                .with_label(format!("more than {n} GPUs"))
                .with_help(format!("valid sizes for {n} GPUs: {}", valid_sizes(n)));
                return None;
            }
        }
        Some(Parallelism::Tensor { size: Some(size) })
    }

    fn pipeline(&mut self, layers: Option<Vec<u32>>) -> Option<Parallelism> {
        let Some(layers) = layers else {
            return Some(Parallelism::Pipeline { layers: None });
        };
        let p = path("parallelism.layers");
        let mut ok = true;
        if let Some(GpuCount { n, from }) = self.gpu_count {
            if n != layers.len() {
                ok = false;
                let at = self.value(&p);
                self.error(
                    Code::GpuCountMismatch,
                    at,
                    format!(
                        "`layers` has {} but {from} {n}",
                        plural(layers.len(), "entry", "entries")
                    ),
                )
                .with_label(plural(layers.len(), "entry", "entries"))
                .with_help("give one layer count per GPU, in the order of `devices.gpus`");
            }
        }
        for (i, n) in layers.iter().enumerate() {
            if *n == 0 {
                ok = false;
                let at = self.value(&p.index(i));
                self.error(
                    Code::EmptyPipelineStage,
                    at,
                    format!("pipeline stage {i} holds no layers"),
                )
                .with_label("zero layers")
                .with_help("remove this GPU from `devices.gpus` and its entry from `layers`");
            }
        }
        ok.then_some(Parallelism::Pipeline {
            layers: Some(layers),
        })
    }

    fn manual(&mut self, raw: &wire::RawParallelism) -> Option<Parallelism> {
        let gpus = self.gpus.clone();
        let gpus = gpus.as_ref();
        match (&raw.map, &raw.map_file) {
            // A map whose value was rejected has been reported already.
            (None, None)
                if self.provenance.was_rejected(&path("parallelism.map"))
                    || self.provenance.was_rejected(&path("parallelism.map_file")) =>
            {
                None
            }
            (None, None) => {
                let at = self.value(&path("parallelism.strategy"));
                self.error(Code::ManualMapChoice, at, "`strategy = \"manual\"` needs a layer map")
                    .with_label("no `map` or `map_file`")
                    .with_help(
                    "add `map = [{ layers = \"0-13\", gpu = 0 }, ...]`, or `map_file = \"device_map.json\"`",
                );
                None
            }
            (Some(_), Some(_)) => {
                let at = self.key(&path("parallelism.map_file"));
                let other = self.note_span(&at, &path("parallelism.map"));
                let d = self
                    .error(
                        Code::ManualMapChoice,
                        at,
                        "`map` and `map_file` are both set",
                    )
                    .with_label("second layer map");
                d.with_help("keep one of them");
                if let Some(span) = other {
                    d.with_note(span, "first layer map");
                }
                None
            }
            (Some(entries), None) => self
                .map_ranges(entries, gpus)
                .map(|r| Parallelism::Manual(LayerMap::Ranges(r))),
            (None, Some(file)) => self.map_file(file, gpus).map(Parallelism::Manual),
        }
    }

    fn map_ranges(
        &mut self,
        entries: &[wire::MapEntry],
        gpus: Option<&Vec<Gpu>>,
    ) -> Option<Vec<MapRange>> {
        let list = path("parallelism.map");
        let mut ranges = Vec::new();
        let mut ok = true;
        for (i, entry) in entries.iter().enumerate() {
            let item = list.index(i);
            let layers = self.layer_range(&entry.layers, &item.key("layers"));
            let gpu = self.gpu(&entry.gpu, &item.key("gpu"));
            if let (Some(Gpu::Ordinal(n)), None, Some(GpuCount { n: count, from })) =
                (&gpu, gpus, self.gpu_count)
            {
                if (*n as usize) >= count {
                    ok = false;
                    let at = self.value(&item.key("gpu"));
                    self.error(
                        Code::UnknownGpu,
                        at,
                        format!("layer map sends layers to GPU {n}, but {from} {count}"),
                    )
                    .with_label(format!(
                        "ordinals run from 0 to {}",
                        count.saturating_sub(1)
                    ))
                    .with_help(format!("use a GPU from 0 to {}", count.saturating_sub(1)));
                }
            }
            if let (Some(gpu), Some(gpus)) = (&gpu, gpus) {
                if !gpus.contains(gpu) {
                    ok = false;
                    let at = self.value(&item.key("gpu"));
                    self.error(
                        Code::UnknownGpu,
                        at,
                        format!(
                            "layer map sends layers to {}, which `devices.gpus` does not list",
                            gpu.describe()
                        ),
                    )
                    .with_label("not in `devices.gpus`")
                    .with_help(format!(
                        "use one of {}, or add {} to `devices.gpus`",
                        suggest::list(gpus.iter().map(ToString::to_string)),
                        gpu.describe()
                    ));
                }
            }
            match (layers, gpu) {
                (Some(layers), Some(gpu)) => ranges.push((
                    i,
                    MapRange {
                        layers,
                        gpu,
                        quantization: entry.quantization,
                    },
                )),
                _ => ok = false,
            }
        }
        // Overlaps: compare each range with every later-starting one.
        let mut sorted: Vec<&(usize, MapRange)> = ranges.iter().collect();
        sorted.sort_by_key(|(_, r)| *r.layers.start());
        for (a, (ia, ra)) in sorted.iter().enumerate() {
            for (ib, rb) in sorted.iter().skip(a + 1) {
                if rb.layers.start() > ra.layers.end() {
                    break;
                }
                ok = false;
                let lo = *rb.layers.start();
                let hi = (*ra.layers.end()).min(*rb.layers.end());
                let shared = if lo == hi {
                    format!("layer {lo}")
                } else {
                    format!("layers {lo}-{hi}")
                };
                let later = (*ia).max(*ib);
                let earlier = (*ia).min(*ib);
                let at = self.value(&list.index(later).key("layers"));
                let other = self.note_span(&at, &list.index(earlier).key("layers"));
                let d = self
                    .error(
                        Code::OverlappingLayers,
                        at,
                        format!(
                            "{shared} {} mapped twice",
                            if lo == hi { "is" } else { "are" }
                        ),
                    )
                    .with_label(format!("{shared} already mapped"));
                d.with_help(
                    "give every layer exactly one GPU: make the ranges adjacent, not overlapping",
                );
                if let Some(span) = other {
                    d.with_note(span, "also mapped here");
                }
            }
        }
        ok.then(|| ranges.into_iter().map(|(_, r)| r).collect())
    }

    fn layer_range(
        &mut self,
        raw: &wire::LayerSpan,
        p: &KeyPath,
    ) -> Option<std::ops::RangeInclusive<u32>> {
        let parsed = match raw {
            wire::LayerSpan::One(n) => u32::try_from(*n)
                .map(|n| n..=n)
                .map_err(|_| LayerRangeError::OutOfRange),
            wire::LayerSpan::Range(text) => parse_layer_range(text),
        };
        match parsed {
            Ok(r) => Some(r),
            Err(why) => {
                let shown = match raw {
                    wire::LayerSpan::One(n) => n.to_string(),
                    wire::LayerSpan::Range(t) => format!("\"{t}\""),
                };
                let at = self.value(p);
                self.error(Code::InvalidLayerRange, at, format!("layer range {shown} {why}"))
                    .with_label("not a layer range")
                    .with_help("write `\"START-END\"` with START <= END, both ends included (`\"0-13\"`), or one layer (`14`)");
                None
            }
        }
    }

    fn map_file(&mut self, text: &str, gpus: Option<&Vec<Gpu>>) -> Option<LayerMap> {
        let p = path("parallelism.map_file");
        let resolved = normalize(&self.provenance.base_dir(&p).join(text));
        let on_disk = self.provenance.on_disk(&resolved);
        let content = match crate::files::read_text(&on_disk, crate::files::cap::MAP) {
            Ok(c) => c,
            Err(e) => {
                let at = self.value(&p);
                self.error(
                    Code::InvalidMapFile,
                    at,
                    format!(
                        "cannot read layer map `{}`: {}",
                        display_path(&resolved),
                        io_reason(&e)
                    ),
                )
                .with_label("unreadable")
                .with_help("relative paths are resolved against the manifest that sets them");
                return None;
            }
        };
        let source = SourceText::new(resolved.clone(), content);
        let json: serde_json::Value = match serde_json::from_str(source.text()) {
            Ok(v) => v,
            Err(e) => {
                self.error(
                    Code::InvalidMapFile,
                    json::error_place(&source, &e),
                    format!("layer map `{}` is not valid JSON", display_path(&resolved)),
                )
                .with_label(json::reason(&e))
                .with_help(
                    "an accelerate device map is a JSON object: {\"model.layers.0\": 0, ...}",
                );
                return None;
            }
        };
        let Some(object) = json.as_object() else {
            self.error(
                Code::InvalidMapFile,
                Place::File(resolved.clone()),
                format!(
                    "layer map `{}` is not a JSON object",
                    display_path(&resolved)
                ),
            )
            .with_help("an accelerate device map is a JSON object: {\"model.layers.0\": 0, ...}");
            return None;
        };
        let mut entries = Vec::new();
        let mut ok = true;
        for (name, value) in object {
            let span = find_json_key(source.text(), name);
            let place = Place::Span {
                source: source.clone(),
                span: span.clone(),
            };
            let gpu = match value {
                serde_json::Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Gpu::Ordinal),
                serde_json::Value::String(s) if is_device_uuid(s) => Some(Gpu::Uuid(s.clone())),
                _ => None,
            };
            match gpu {
                Some(gpu) => {
                    if let Some(gpus) = gpus.filter(|g| !g.contains(&gpu)) {
                        ok = false;
                        self.error(
                            Code::UnknownGpu,
                            place,
                            format!(
                                "`{name}` is mapped to {}, which `devices.gpus` does not list",
                                gpu.describe()
                            ),
                        )
                        .with_label("not in `devices.gpus`")
                        .with_help(format!(
                            "use one of {}",
                            suggest::list(gpus.iter().map(ToString::to_string))
                        ));
                    } else {
                        entries.push((name.clone(), gpu));
                    }
                }
                None => {
                    ok = false;
                    let help = if matches!(value.as_str(), Some("cpu" | "disk")) {
                        "deployctl maps layers to GPUs only; to let layers spill to host memory set \
                         `devices.cpu_offload = true` and use `strategy = \"auto\"`"
                    } else {
                        "map each module to a GPU ordinal (`0`) or UUID (`\"GPU-…\"`)"
                    };
                    self.error(
                        Code::InvalidMapFile,
                        place,
                        format!("`{name}` is mapped to {value}, which is not a GPU"),
                    )
                    .with_label("not a GPU")
                    .with_help(help);
                }
            }
        }
        ok.then_some(LayerMap::File {
            path: resolved,
            entries,
        })
    }
}

/// Why a layer range is not one; the message follows the range as written
/// (`layer range "13-0" runs backwards (13 > 0)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LayerRangeError {
    /// A single layer number past `u32`.
    #[error("is out of range")]
    OutOfRange,
    #[error("is not of the form \"START-END\"")]
    NotStartEnd,
    #[error("runs backwards ({start} > {end})")]
    Backwards { start: u32, end: u32 },
}

/// `"0-13"` → 0..=13; `"5"` → 5..=5.
fn parse_layer_range(text: &str) -> Result<std::ops::RangeInclusive<u32>, LayerRangeError> {
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| LayerRangeError::NotStartEnd)
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (start, end) = (number(a)?, number(b)?);
            if start > end {
                Err(LayerRangeError::Backwards { start, end })
            } else {
                Ok(start..=end)
            }
        }
        None => number(text).map(|n| n..=n),
    }
}

/// The span of `"name"` as a key in JSON text, or the start of the file.
fn find_json_key(text: &str, name: &str) -> std::ops::Range<usize> {
    let quoted = format!("\"{name}\"");
    text.find(&quoted).map_or(0..0, |i| i..i + quoted.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layer_ranges() {
        assert_eq!(parse_layer_range("0-13"), Ok(0..=13));
        assert_eq!(parse_layer_range(" 7 "), Ok(7..=7));
        assert_eq!(
            parse_layer_range("13-0").unwrap_err().to_string(),
            "runs backwards (13 > 0)"
        );
        assert!(parse_layer_range("0-").is_err());
        assert!(parse_layer_range("a-b").is_err());
    }
}
