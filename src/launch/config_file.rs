//! The launch description as a `mistralrs from-config` TOML file, for users who
//! keep the stock binary's configuration in their repository.
//!
//! The keys are those of mistral.rs 0.8.1's `mistralrs-cli/src/config/mod.rs`
//! (`ServeConfig`, `ModelEntry`) and the option structs it flattens from
//! `src/args/`. That file ignores unknown keys, so a misspelt one would be
//! dropped silently; the tests read the output back through a copy of those
//! structs that refuses unknown keys.

use serde::Serialize;

use super::cli::topology_yaml;
use super::description::{Description, Devices, ModelFiles, TOPOLOGY_FILE};
use crate::model::Modality;

#[derive(Serialize)]
struct ConfigFile {
    command: &'static str,
    global: Global,
    runtime: Runtime,
    server: Server,
    paged_attn: PagedAttn,
    models: Vec<ModelEntry>,
}

#[derive(Serialize)]
struct Global {
    /// Never read a Hugging Face token: the weights are local.
    token_source: &'static str,
}

#[derive(Serialize)]
struct Runtime {
    max_seqs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_template: Option<String>,
}

#[derive(Serialize)]
struct Server {
    host: String,
    port: u16,
}

#[derive(Serialize)]
struct PagedAttn {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_type: Option<&'static str>,
}

#[derive(Serialize)]
struct ModelEntry {
    kind: &'static str,
    model_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokenizer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arch: Option<String>,
    dtype: &'static str,
    format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantization: Option<Quantization>,
    device: Device,
    #[serde(skip_serializing_if = "Option::is_none")]
    multimodal: Option<Multimodal>,
}

#[derive(Serialize)]
struct Format {
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantized_file: Option<String>,
}

#[derive(Serialize)]
struct Quantization {
    in_situ_quant: String,
}

#[derive(Serialize)]
struct Device {
    cpu: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_layers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topology: Option<String>,
    max_seq_len: u64,
    max_batch_size: u64,
}

#[derive(Serialize)]
struct Multimodal {
    max_num_images: u64,
    max_image_length: u64,
}

/// The config file, with the environment and the topology it needs as
/// comments: the stock binary reads neither from it.
pub fn render(d: &Description) -> String {
    let cpu = d.on_cpu();
    let (model_id, format) = match &d.files {
        ModelFiles::Plain { id } => (
            id.clone(),
            Format {
                format: "plain",
                quantized_file: None,
            },
        ),
        ModelFiles::Gguf { dir, file } => (
            dir.clone(),
            Format {
                format: "gguf",
                quantized_file: Some(file.clone()),
            },
        ),
    };
    let topology = matches!(d.devices, Devices::Topology { .. }).then(|| TOPOLOGY_FILE.to_owned());
    let multimodal = d.modality == Modality::Multimodal;
    let file = ConfigFile {
        command: "serve",
        global: Global {
            token_source: "none",
        },
        runtime: Runtime {
            max_seqs: d.max_seqs,
            chat_template: d.chat_template.as_ref().map(|p| p.display().to_string()),
        },
        server: Server {
            host: d.host.clone(),
            port: d.port,
        },
        paged_attn: match &d.paged_attention {
            Some(pa) => PagedAttn {
                mode: "on",
                context_len: Some(pa.context_len),
                cache_type: Some(if pa.f8_cache { "f8e4m3" } else { "auto" }),
            },
            None => PagedAttn {
                mode: "off",
                context_len: None,
                cache_type: None,
            },
        },
        models: vec![ModelEntry {
            kind: d.stock_kind(),
            model_id,
            tokenizer: d.tokenizer.as_ref().map(|p| p.display().to_string()),
            arch: d.stock_arch().map(str::to_owned),
            dtype: d.dtype.name(),
            format,
            quantization: d.isq.map(|q| Quantization {
                in_situ_quant: q.name().to_owned(),
            }),
            device: Device {
                cpu,
                device_layers: d.layer_specs(),
                topology,
                max_seq_len: d.max_seq_len,
                max_batch_size: d.max_batch_size,
            },
            multimodal: multimodal.then(|| Multimodal {
                max_num_images: d.max_images.unwrap_or(1),
                max_image_length: d.max_image_length.unwrap_or(1024),
            }),
        }],
    };
    let mut out = format!(
        "# {} configuration generated by deployctl.\n# Run: ",
        crate::RUNTIME
    );
    let env: Vec<String> = d.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !env.is_empty() {
        out.push_str(&env.join(" "));
        out.push(' ');
    }
    out.push_str("mistralrs from-config -f mistralrs.toml\n");
    if let Devices::Topology { ranges } = &d.devices {
        out.push_str("# with this topology.yml beside it:\n");
        for line in topology_yaml(ranges, d.rehearsal).lines() {
            out.push_str(&format!("#   {line}\n"));
        }
    }
    out.push('\n');
    out.push_str(&toml::to_string(&file).expect("the config file serializes"));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    //! A copy of mistral.rs 0.8.1's config structs (`mistralrs-cli`, which is
    //! a binary and cannot be depended on), refusing unknown keys.

    use std::path::PathBuf;

    use serde::Deserialize;

    use crate::launch::description::{Description, Devices, ModelFiles, PagedAttention};
    use crate::model::Modality;

    #[derive(Deserialize)]
    #[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
    enum CliConfig {
        Serve(ServeConfig),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ServeConfig {
        global: GlobalOptionsToml,
        runtime: RuntimeOptions,
        server: ServerOptions,
        paged_attn: PagedAttentionOptions,
        models: Vec<ModelEntry>,
        #[allow(dead_code)]
        default_model_id: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct GlobalOptionsToml {
        token_source: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RuntimeOptions {
        max_seqs: usize,
        chat_template: Option<PathBuf>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ServerOptions {
        port: u16,
        host: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PagedAttentionOptions {
        mode: String,
        context_len: Option<usize>,
        cache_type: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ModelEntry {
        kind: String,
        model_id: String,
        tokenizer: Option<PathBuf>,
        arch: Option<String>,
        dtype: String,
        format: FormatOptions,
        #[serde(default)]
        quantization: QuantizationOptions,
        device: DeviceOptionsToml,
        multimodal: Option<MultimodalOptions>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FormatOptions {
        format: Option<String>,
        quantized_file: Option<String>,
    }

    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct QuantizationOptions {
        in_situ_quant: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DeviceOptionsToml {
        cpu: Option<bool>,
        device_layers: Option<Vec<String>>,
        topology: Option<PathBuf>,
        max_seq_len: Option<usize>,
        max_batch_size: Option<usize>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct MultimodalOptions {
        max_num_images: Option<usize>,
        max_image_length: Option<usize>,
    }

    fn enum_value<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap()
    }

    /// Reads a rendered config file back into a description, as far as the
    /// file holds it: the environment and the topology ranges travel beside
    /// it and come from `beside`.
    pub(crate) fn parse(text: &str, beside: &Description) -> Description {
        let CliConfig::Serve(c) = toml::from_str(text).expect("a valid mistral.rs config");
        assert_eq!(c.global.token_source.as_deref(), Some("none"));
        let [m] = <[ModelEntry; 1]>::try_from(c.models)
            .ok()
            .expect("one model");
        let files = match m.format.format.as_deref() {
            Some("gguf") => ModelFiles::Gguf {
                dir: m.model_id,
                file: m.format.quantized_file.unwrap(),
            },
            _ => ModelFiles::Plain { id: m.model_id },
        };
        let cpu = m.device.cpu.unwrap();
        let devices = match (&m.device.device_layers, &m.device.topology) {
            (Some(layers), None) => Devices::Layers {
                per_device: layers
                    .iter()
                    .map(|p| {
                        let (o, n) = p.split_once(':').unwrap();
                        (o.parse().unwrap(), n.parse().unwrap())
                    })
                    .collect(),
            },
            (None, Some(path)) => {
                assert_eq!(path, &PathBuf::from("topology.yml"));
                beside.devices.clone()
            }
            _ if cpu => Devices::Cpu,
            _ => beside.devices.clone(),
        };
        let multimodal = m.kind == "multimodal";
        Description {
            model_id: beside.model_id.clone(),
            files,
            modality: if multimodal {
                Modality::Multimodal
            } else {
                Modality::Text
            },
            // Detected from config.json by the stock binary for vision models.
            arch: if multimodal {
                beside.arch.clone()
            } else {
                m.arch
            },
            tokenizer: m.tokenizer,
            chat_template: c.runtime.chat_template,
            dtype: enum_value(&m.dtype),
            isq: m.quantization.in_situ_quant.map(|q| enum_value(&q)),
            rehearsal: cpu && !matches!(devices, Devices::Cpu),
            devices,
            env: beside.env.clone(),
            max_seq_len: m.device.max_seq_len.unwrap() as u64,
            max_batch_size: m.device.max_batch_size.unwrap() as u64,
            max_images: m
                .multimodal
                .as_ref()
                .and_then(|x| x.max_num_images)
                .map(|n| n as u64),
            max_image_length: m
                .multimodal
                .as_ref()
                .and_then(|x| x.max_image_length)
                .map(|n| n as u64),
            paged_attention: (c.paged_attn.mode == "on").then(|| PagedAttention {
                context_len: c.paged_attn.context_len.unwrap() as u64,
                f8_cache: c.paged_attn.cache_type.as_deref() == Some("f8e4m3"),
            }),
            max_seqs: c.runtime.max_seqs as u32,
            host: c.server.host,
            port: c.server.port,
        }
    }
}
