//! `[devices]`: GPUs, memory limits, reserve and the expected hardware.

use std::collections::HashMap;

use super::{Checker, GpuCount, path, plural};
use crate::diagnostic::Code;
use crate::manifest::path::KeyPath;
use crate::manifest::validated::*;
use crate::manifest::wire::{self, ByteSizeValue};
use crate::units::{self as size, ByteSize, ComputeCapability, SizeError};

impl Checker<'_> {
    pub(super) fn devices(&mut self, raw: wire::RawDevices) -> Option<Devices> {
        let long_gpus = raw
            .gpus
            .as_ref()
            .is_some_and(|l| !self.list_fits("devices.gpus", l.len()));
        let long_limits = matches!(&raw.max_memory, Some(wire::MemoryLimit::PerGpu(l)) if !self.list_fits("devices.max_memory", l.len()));
        if long_gpus || long_limits {
            return None;
        }
        let gpus = raw.gpus.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, g)| self.gpu(g, &path("devices.gpus").index(i)))
                .collect::<Vec<_>>()
        });
        let mut ok = gpus.as_ref().is_none_or(|g| g.iter().all(Option::is_some));
        let gpus: Option<Vec<Gpu>> = gpus.map(|g| g.into_iter().flatten().collect());
        if let Some(list) = &gpus {
            self.duplicates(list, &path("devices.gpus"));
            if ok {
                self.gpus = Some(list.clone());
            }
        }

        let expect = raw.expect.as_ref().map(|e| self.expect(e));
        let expect = match expect {
            Some(None) => {
                ok = false;
                None
            }
            Some(Some(e)) => Some(e),
            None => None,
        };

        self.gpu_count = match (&gpus, expect.as_ref().and_then(|e| e.count)) {
            (Some(list), _) if self.gpus.is_some() => Some(GpuCount {
                n: list.len(),
                from: "`devices.gpus` lists",
            }),
            (None, Some(count)) => Some(GpuCount {
                n: count as usize,
                from: "`devices.expect.count` is",
            }),
            _ => None,
        };
        let max_memory = raw.max_memory.as_ref().and_then(|m| {
            let written = raw.expect.as_ref().and_then(|e| match &e.memory {
                Some(ByteSizeValue::Text(t)) => Some(format!("\"{t}\"")),
                _ => None,
            });
            self.max_memory(m, gpus.as_deref(), expect.as_ref(), written)
        });
        if raw.max_memory.is_some() && max_memory.is_none() {
            ok = false;
        }
        let reserve = match &raw.reserve {
            Some(value) => self.size(value, &path("devices.reserve"), true),
            None => Some(crate::manifest::defaults::RESERVE),
        };
        if let (Some(expect), Some(gpus)) = (&expect, &gpus) {
            self.gpus_against_expectation(gpus, expect);
        }
        if !ok {
            return None;
        }
        Some(Devices {
            gpus,
            max_memory,
            reserve: reserve?,
            cpu_offload: raw.cpu_offload.unwrap_or(false),
            expect,
        })
    }

    pub(super) fn gpu(&mut self, raw: &wire::GpuRef, p: &KeyPath) -> Option<Gpu> {
        match raw {
            wire::GpuRef::Ordinal(n) => match u32::try_from(*n) {
                Ok(n) => Some(Gpu::Ordinal(n)),
                Err(_) => {
                    let at = self.value(p);
                    self.error(
                        Code::InvalidGpuId,
                        at,
                        format!("GPU ordinal {n} is out of range"),
                    )
                    .with_label("not a GPU ordinal");
                    None
                }
            },
            wire::GpuRef::Uuid(text) => {
                if let Ok(n) = text.trim().parse::<u32>() {
                    let at = self.value(p);
                    self.error(
                        Code::InvalidGpuId,
                        at,
                        format!("GPU `{text}` is an ordinal written as a string"),
                    )
                    .with_label("a string")
                    .with_help(format!("write ordinals as integers: `{n}`"));
                    return None;
                }
                if is_device_uuid(text) {
                    return Some(Gpu::Uuid(text.clone()));
                }
                let at = self.value(p);
                self.error(Code::InvalidGpuId, at, format!("`{text}` is neither a GPU ordinal nor a GPU UUID"))
                    .with_label("not a GPU reference")
                    .with_help(
                    "write a CUDA ordinal (`0`) or a UUID as `nvidia-smi -L` prints it (`\"GPU-8f2c…\"`, `\"MIG-…\"`)",
                );
                None
            }
        }
    }

    fn duplicates(&mut self, gpus: &[Gpu], list: &KeyPath) {
        let mut first: HashMap<&Gpu, usize> = HashMap::new();
        for (i, gpu) in gpus.iter().enumerate() {
            if let Some(&j) = first.get(gpu) {
                let at = self.value(&list.index(i));
                let earlier = self.note_span(&at, &list.index(j));
                let d = self
                    .error(
                        Code::DuplicateGpu,
                        at,
                        format!("{} is listed twice in `{list}`", gpu.describe()),
                    )
                    .with_label("listed again here");
                d.with_help("list each GPU once");
                if let Some(span) = earlier {
                    d.with_note(span, "first listed here");
                }
            } else {
                first.insert(gpu, i);
            }
        }
    }

    fn expect(&mut self, raw: &wire::RawExpect) -> Option<ExpectedHardware> {
        let memory = match &raw.memory {
            Some(v) => Some(self.size(v, &path("devices.expect.memory"), false)?),
            None => None,
        };
        let capability = match &raw.min_compute_capability {
            Some(text) => {
                match ComputeCapability::parse(text.trim()) {
                    Some(c) => Some(c),
                    None => {
                        let at = self.value(&path("devices.expect.min_compute_capability"));
                        self.error(
                        Code::InvalidComputeCapability,
                        at,
                        format!("`{text}` is not a compute capability"),
                    )
                    .with_label("expected MAJOR.MINOR")
                    .with_help("write it as `\"8.0\"` (A100), `\"8.9\"` (RTX 4090) or `\"9.0\"` (H100)");
                        return None;
                    }
                }
            }
            None => None,
        };
        let host = match &raw.host {
            Some(name) if !is_host_name(name) => {
                let at = self.value(&path("devices.expect.host"));
                self.error(
                    Code::InvalidValue,
                    at,
                    format!("`{name}` is not a host name"),
                )
                .with_label("letters, digits, `.`, `-` and `_` only")
                .with_help("name the machine as its `hosts/HOST.toml` file is named, e.g. `host = \"gpu-box-3\"`");
                return None;
            }
            other => other.clone(),
        };
        Some(ExpectedHardware {
            host,
            count: raw.count,
            memory,
            min_compute_capability: capability,
        })
    }

    fn gpus_against_expectation(&mut self, gpus: &[Gpu], expect: &ExpectedHardware) {
        let Some(count) = expect.count else { return };
        let list = path("devices.gpus");
        if gpus.len() > count as usize {
            let at = self.key(&list);
            self.error(
                Code::GpuCountMismatch,
                at,
                format!(
                    "`gpus` lists {} GPUs but `devices.expect.count` is {count}",
                    gpus.len()
                ),
            )
            .with_label(format!("{} GPUs", gpus.len()))
            .with_help("list at most the expected number of GPUs, or raise `expect.count`");
        }
        for (i, gpu) in gpus.iter().enumerate() {
            if let Gpu::Ordinal(n) = gpu {
                if *n >= count {
                    let at = self.value(&list.index(i));
                    self.error(
                        Code::UnknownGpu,
                        at,
                        format!("GPU {n} does not exist on the expected {count}-GPU machine"),
                    )
                    .with_label(format!(
                        "ordinals run from 0 to {}",
                        count.saturating_sub(1)
                    ))
                    .with_help(format!(
                        "use ordinals 0..={}, or raise `devices.expect.count`",
                        count.saturating_sub(1)
                    ));
                }
            }
        }
    }

    fn max_memory(
        &mut self,
        raw: &wire::MemoryLimit,
        gpus: Option<&[Gpu]>,
        expect: Option<&ExpectedHardware>,
        expect_memory_text: Option<String>,
    ) -> Option<MemoryLimit> {
        let p = path("devices.max_memory");
        let limits = match raw {
            wire::MemoryLimit::All(value) => MemoryLimit::Each(self.limit(value, &p)?),
            wire::MemoryLimit::PerGpu(values) => {
                let parsed: Vec<Option<Limit>> = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.limit(v, &p.index(i)))
                    .collect();
                let expected = gpus.map(|g| (g.len(), "`devices.gpus` lists")).or_else(|| {
                    expect
                        .and_then(|e| e.count)
                        .map(|c| (c as usize, "`devices.expect.count` is"))
                });
                if let Some((n, what)) = expected {
                    if n != values.len() {
                        let at = self.value(&p);
                        self.error(
                            Code::GpuCountMismatch,
                            at,
                            format!("`max_memory` has {} but {what} {n}", plural(values.len(), "entry", "entries")),
                        )
                        .with_label(plural(values.len(), "entry", "entries"))
                        .with_help(format!(
                            "give one limit per GPU ({n} entries), or a single limit for every GPU: `max_memory = \"15GiB\"`"
                        ));
                    }
                }
                MemoryLimit::PerGpu(parsed.into_iter().collect::<Option<Vec<_>>>()?)
            }
        };
        if let Some(total) = expect.and_then(|e| e.memory) {
            let entries: Vec<(KeyPath, Limit)> = match &limits {
                MemoryLimit::Each(l) => vec![(p.clone(), *l)],
                MemoryLimit::PerGpu(ls) => ls
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (p.index(i), *l))
                    .collect(),
            };
            let written_total = expect_memory_text.unwrap_or_else(|| total.to_string());
            for (at_path, limit) in entries {
                if let Limit::Bytes(bytes) = limit {
                    if bytes > total {
                        let at = self.value(&at_path);
                        let written =
                            written_at(raw, &at_path).unwrap_or_else(|| bytes.to_string());
                        self.warning(
                            Code::LimitAboveExpected,
                            at,
                            format!(
                                "limit {written} is larger than the expected GPU memory {written_total}"
                            ),
                        )
                        .with_label("larger than the GPU")
                        .with_help(format!("lower it below {written_total} minus `reserve`"));
                    }
                }
            }
        }
        Some(limits)
    }

    fn limit(&mut self, value: &ByteSizeValue, p: &KeyPath) -> Option<Limit> {
        if let ByteSizeValue::Text(text) = value {
            if let Some(parsed) = size::parse_percent(text) {
                return match parsed {
                    Ok(share) => Some(Limit::Share(share)),
                    Err(why) => {
                        let at = self.value(p);
                        self.error(Code::InvalidPercentage, at, why.to_string())
                            .with_label("not a valid share")
                            .with_help("write a share from \"1%\" to \"100%\", e.g. `\"90%\"`");
                        None
                    }
                };
            }
        }
        self.size(value, p, false).map(Limit::Bytes)
    }

    /// Parses a byte size at `p`. `zero_ok`: zero is meaningful here (a reserve).
    pub(super) fn size(
        &mut self,
        value: &ByteSizeValue,
        p: &KeyPath,
        zero_ok: bool,
    ) -> Option<ByteSize> {
        let key = p.layer_key();
        let key = key.last_key().unwrap_or("size").to_owned();
        let parsed = match value {
            ByteSizeValue::Bytes(n) if *n < 0 => Err(SizeError::Negative),
            ByteSizeValue::Bytes(n) => Ok(ByteSize(*n as u64)),
            ByteSizeValue::Text(text) => size::parse_size(text),
        };
        let at = self.value(p);
        match parsed {
            Ok(size) if size.bytes() == 0 && !zero_ok => {
                self.error(Code::InvalidSize, at, format!("`{p}` is zero"))
                    .with_label("zero bytes")
                    .with_help(format!("give `{key}` a size such as `\"15GiB\"`"));
                None
            }
            // A limit under 1 MiB is a unit forgotten, not a plan: "15" is 15 bytes.
            Ok(size) if size.bytes() < 1 << 20 && !zero_ok => {
                let n = size.bytes();
                self.error(Code::InvalidSize, at, format!("`{p}` is only {n} bytes"))
                    .with_label("no unit: bytes")
                    .with_help(format!("sizes without a unit count bytes: did you mean `\"{n}GB\"` or `\"{n}GiB\"`?"));
                None
            }
            Ok(size) => Some(size),
            Err(SizeError::Several(parts)) => {
                let list = parts
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                let help = if key == "max_memory" && p.segments().len() == 2 {
                    format!("write one string per GPU as a TOML list: `max_memory = [{list}]`")
                } else {
                    format!("`{key}` takes one size, e.g. `{key} = \"{}\"`", parts[0])
                };
                self.error(
                    Code::SizeListInString,
                    at,
                    format!("`{p}` holds {} sizes in one string", parts.len()),
                )
                .with_label("several sizes in one string")
                .with_help(help);
                None
            }
            Err(why) => {
                let shown = match value {
                    ByteSizeValue::Bytes(n) => n.to_string(),
                    ByteSizeValue::Text(t) => format!("\"{t}\""),
                };
                let label = match why {
                    SizeError::Negative => "sizes cannot be negative",
                    SizeError::Overflow => "larger than 16 EiB",
                    _ => "not a byte size",
                };
                self.error(Code::InvalidSize, at, format!("`{p}` = {shown} {why}"))
                    .with_label(label)
                    .with_help(
                    "write bytes as an integer, or a number with a unit: \"15GB\", \"15 GiB\", \"512MiB\", \"1.5TB\"",
                );
                None
            }
        }
    }
}

pub(super) fn is_device_uuid(text: &str) -> bool {
    let rest = text
        .strip_prefix("GPU-")
        .or_else(|| text.strip_prefix("MIG-"));
    rest.is_some_and(|r| {
        !r.is_empty()
            && r.chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-' || c == '/')
    })
}

/// The limit as the user wrote it, for messages: `"40GB"`, not `37.25 GiB`.
fn written_at(raw: &wire::MemoryLimit, p: &KeyPath) -> Option<String> {
    let value = match (raw, p.segments().last()) {
        (wire::MemoryLimit::All(v), _) => v,
        (wire::MemoryLimit::PerGpu(list), Some(crate::manifest::Segment::Index(i))) => {
            list.get(*i)?
        }
        _ => return None,
    };
    Some(match value {
        ByteSizeValue::Bytes(n) => format!("{n} bytes"),
        ByteSizeValue::Text(t) => format!("\"{t}\""),
    })
}

/// A name that is also a file name on every system: `gpu-box-3`, `node.7`.
fn is_host_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_gpu_and_mig_uuids() {
        assert!(is_device_uuid("GPU-8f2c1a2b-1111-2222-3333-444455556666"));
        assert!(is_device_uuid("MIG-4b0ab2a4-5d0e-5a6b-9b3b-0c7e9a1f2d3c"));
        assert!(!is_device_uuid("gpu0"));
        assert!(!is_device_uuid("GPU-"));
    }
}
