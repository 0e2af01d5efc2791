//! The launch description as the stock `mistralrs` binary takes it: the
//! `mistralrs serve` command line, its environment, and the topology YAML.

use serde::Serialize;

use super::description::{Description, Devices, ModelFiles, TopologyRange};
use crate::manifest::values::{DType, Quantization};
use crate::model::Modality;

/// The command line, rendered.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Launch {
    /// Environment to set before any CUDA call.
    pub env: Vec<(String, String)>,
    /// `mistralrs serve …`, one argument per entry.
    pub args: Vec<String>,
    /// Topology YAML for manual maps with per-range quantization, saved as
    /// `topology.yml` beside the launch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    /// What the binary must be built with.
    pub requires: Vec<String>,
}

impl Launch {
    /// `ENV=… mistralrs serve …`, shell-quoted.
    pub fn command_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", quote(v)));
        let args = self.args.iter().map(|a| quote(a));
        env.chain(args).collect::<Vec<_>>().join(" ")
    }
}

fn quote(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| s.to_owned())
}

pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::Auto => "auto",
        DType::Bf16 => "bf16",
        DType::F16 => "f16",
        DType::F32 => "f32",
    }
}

pub fn isq_name(q: Quantization) -> String {
    serde_json::to_value(q)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Renders `d` for the stock binary.
pub fn render(d: &Description) -> Launch {
    let mut args = vec!["mistralrs".to_owned(), "serve".to_owned()];
    args.push(
        if d.modality == Modality::Multimodal {
            "multimodal"
        } else {
            "text"
        }
        .to_owned(),
    );
    let mut push = |flag: &str, value: String| {
        args.push(flag.to_owned());
        args.push(value);
    };
    match &d.files {
        ModelFiles::Plain { id } => push("-m", id.clone()),
        ModelFiles::Gguf { dir, file } => {
            push("--format", "gguf".into());
            push("-m", dir.clone());
            push("-f", file.clone());
        }
    }
    // `-a` takes text architectures only; the stock binary detects vision
    // ones from config.json.
    if let Some(arch) = d.arch.as_ref().filter(|_| d.modality == Modality::Text) {
        push("-a", arch.clone());
    }
    if let Some(t) = &d.tokenizer {
        push("-t", t.display().to_string());
    }
    if let Some(c) = &d.chat_template {
        push("-c", c.display().to_string());
    }
    push("--dtype", dtype_name(d.dtype).into());
    if let Some(q) = d.isq {
        push("--isq", isq_name(q));
    }
    let mut topology = None;
    if d.rehearsal {
        args.push("--cpu".into());
    }
    match &d.devices {
        Devices::Cpu => args.push("--cpu".into()),
        Devices::Single | Devices::TensorParallel { .. } => {}
        Devices::Layers { per_device } => {
            let spec = per_device
                .iter()
                .map(|(o, n)| format!("{o}:{n}"))
                .collect::<Vec<_>>()
                .join(";");
            args.extend(["-n".into(), spec]);
        }
        Devices::Topology { ranges } => {
            topology = Some(topology_yaml(ranges, d.rehearsal));
            args.extend(["--topology".into(), "topology.yml".into()]);
        }
    }
    let mut push = |flag: &str, value: String| {
        args.push(flag.to_owned());
        args.push(value);
    };
    push("--max-seq-len", d.max_seq_len.to_string());
    push("--max-batch-size", d.max_batch_size.to_string());
    if let Some(n) = d.max_images {
        push("--max-num-images", n.to_string());
    }
    if let Some(n) = d.max_image_length {
        push("--max-image-length", n.to_string());
    }
    if let Some(pa) = &d.paged_attention {
        push("--paged-attn", "on".into());
        push("--pa-context-len", pa.context_len.to_string());
        if pa.f8_cache {
            push("--pa-cache-type", "f8e4m3".into());
        }
    }
    push("--max-seqs", d.max_seqs.to_string());
    push("--host", d.host.clone());
    push("-p", d.port.to_string());
    let requires = match &d.devices {
        _ if d.rehearsal => Vec::new(),
        Devices::Cpu => Vec::new(),
        Devices::TensorParallel { size } => {
            vec![format!(
                "a build with `--features nccl` (tensor parallelism over {size} GPUs)"
            )]
        }
        _ => vec!["a build with `--features cuda`".into()],
    };
    Launch {
        env: d.env.clone(),
        args,
        topology,
        requires,
    }
}

/// mistral.rs topology YAML: `START-END` keys, end exclusive. A rehearsal puts
/// every range on the CPU and keeps the planned GPU as a comment.
pub fn topology_yaml(ranges: &[TopologyRange], on_cpu: bool) -> String {
    let mut out = String::from("# Generated by deployctl from the manifest's layer map.\n");
    for r in ranges {
        let isq = r
            .quantization
            .map(|q| format!("isq: {}, ", isq_name(q).to_uppercase()))
            .unwrap_or_default();
        let (start, end, gpu) = (r.start, r.end, r.ordinal);
        out.push_str(&if on_cpu {
            format!("{start}-{end}: {{ {isq}device: cpu }}  # planned on cuda[{gpu}]\n")
        } else {
            format!("{start}-{end}: {{ {isq}device: cuda[{gpu}] }}\n")
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::launch::description::PagedAttention;

    /// Reads a rendered launch back into a description: the command line holds
    /// every field the in-process builder gets, no more and no less.
    pub fn parse(l: &Launch) -> Description {
        let args = &l.args;
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].clone())
        };
        let number = |flag: &str| value(flag).map(|v| v.parse::<u64>().unwrap());
        let files = match value("--format").as_deref() {
            Some("gguf") => ModelFiles::Gguf {
                dir: value("-m").unwrap(),
                file: value("-f").unwrap(),
            },
            _ => ModelFiles::Plain {
                id: value("-m").unwrap(),
            },
        };
        let cpu = args.iter().any(|a| a == "--cpu");
        // `--cpu` with a map is a rehearsal; alone, a CPU deployment.
        let rehearsal = cpu && (value("-n").is_some() || l.topology.is_some());
        let devices = if cpu && value("-n").is_none() && l.topology.is_none() {
            Devices::Cpu
        } else if let Some(spec) = value("-n") {
            Devices::Layers {
                per_device: spec
                    .split(';')
                    .map(|p| {
                        let (o, n) = p.split_once(':').unwrap();
                        (o.parse().unwrap(), n.parse().unwrap())
                    })
                    .collect(),
            }
        } else if let Some(yaml) = &l.topology {
            Devices::Topology {
                ranges: yaml
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .map(|line| {
                        let (range, rest) = line.split_once(": ").unwrap();
                        let (start, end) = range.split_once('-').unwrap();
                        let quantization = rest.split("isq: ").nth(1).map(|r| {
                            let name = r.split(',').next().unwrap().to_lowercase();
                            serde_json::from_value(serde_json::Value::String(name)).unwrap()
                        });
                        let ordinal = rest
                            .split("cuda[")
                            .nth(1)
                            .unwrap()
                            .split(']')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap();
                        TopologyRange {
                            start: start.parse().unwrap(),
                            end: end.parse().unwrap(),
                            ordinal,
                            quantization,
                        }
                    })
                    .collect(),
            }
        } else if l.env.iter().any(|(k, _)| k == "MISTRALRS_NO_NCCL") {
            Devices::Single
        } else {
            let visible = l
                .env
                .iter()
                .find(|(k, _)| k == "CUDA_VISIBLE_DEVICES")
                .unwrap();
            Devices::TensorParallel {
                size: visible.1.split(',').count() as u64,
            }
        };
        Description {
            model_id: String::new(),
            files,
            modality: if args[2] == "multimodal" {
                Modality::Multimodal
            } else {
                Modality::Text
            },
            arch: value("-a"),
            tokenizer: value("-t").map(Into::into),
            chat_template: value("-c").map(Into::into),
            dtype: serde_json::from_value(serde_json::Value::String(value("--dtype").unwrap()))
                .unwrap(),
            isq: value("--isq")
                .map(|q| serde_json::from_value(serde_json::Value::String(q)).unwrap()),
            devices,
            env: l.env.clone(),
            max_seq_len: number("--max-seq-len").unwrap(),
            max_batch_size: number("--max-batch-size").unwrap(),
            max_images: number("--max-num-images"),
            max_image_length: number("--max-image-length"),
            paged_attention: value("--paged-attn").map(|_| PagedAttention {
                context_len: number("--pa-context-len").unwrap(),
                f8_cache: value("--pa-cache-type").is_some(),
            }),
            rehearsal,
            max_seqs: number("--max-seqs").unwrap() as u32,
            host: value("--host").unwrap(),
            port: number("-p").unwrap() as u16,
        }
    }
}
