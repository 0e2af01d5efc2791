//! The launch a plan compiles to. One [`Description`] of how mistral.rs must
//! run, read by two back ends: the equivalent `mistralrs serve` command line
//! (`cli`), and the in-process builder that `apply` runs (`in_process`).

pub mod cli;
pub mod config_file;
pub mod contract;
pub mod description;
#[cfg(feature = "serve")]
pub mod in_process;
pub mod kubernetes;

pub use cli::{Launch, command_line};
pub use description::{Description, Devices, ModelFiles, compile};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Modality;
    use crate::units::{DType, Quantization};

    fn described(devices: Devices, files: ModelFiles) -> Description {
        Description {
            model_id: String::new(),
            files,
            modality: Modality::Text,
            arch: Some("llama".into()),
            tokenizer: Some("/models/tok.json".into()),
            chat_template: Some("/models/chat.jinja".into()),
            dtype: DType::Bf16,
            isq: Some(Quantization::Q4K),
            devices,
            env: vec![
                ("CUDA_VISIBLE_DEVICES".into(), "0,1".into()),
                ("MISTRALRS_NO_NCCL".into(), "1".into()),
            ],
            max_seq_len: 8192,
            max_batch_size: 4,
            max_images: None,
            max_image_length: None,
            paged_attention: Some(description::PagedAttention {
                context_len: 32768,
                f8_cache: true,
            }),
            rehearsal: false,
            max_seqs: 4,
            host: "127.0.0.1".into(),
            port: 9000,
        }
    }

    /// The command line carries every field the in-process builder reads.
    #[test]
    fn the_command_line_holds_the_whole_description() {
        let plain = ModelFiles::Plain {
            id: "/models/llama".into(),
        };
        let cases = [
            described(
                Devices::Layers {
                    per_device: vec![(0, 12), (1, 20)],
                },
                plain.clone(),
            ),
            described(
                Devices::Layers {
                    per_device: vec![(0, 32)],
                },
                plain.clone(),
            ),
            described(
                Devices::Topology {
                    ranges: vec![
                        description::TopologyRange {
                            start: 0,
                            end: 14,
                            ordinal: 0,
                            quantization: Some(Quantization::Q8_0),
                        },
                        description::TopologyRange {
                            start: 14,
                            end: 32,
                            ordinal: 1,
                            quantization: None,
                        },
                    ],
                },
                plain.clone(),
            ),
            Description {
                env: vec![("CUDA_VISIBLE_DEVICES".into(), "0,1,2,3".into())],
                ..described(Devices::TensorParallel { size: 4 }, plain)
            },
            Description {
                arch: None,
                paged_attention: None,
                env: Vec::new(),
                ..described(
                    Devices::Cpu,
                    ModelFiles::Gguf {
                        dir: "/m".into(),
                        file: "x.gguf".into(),
                    },
                )
            },
        ];
        let rehearsals = cases
            .iter()
            .filter_map(|d| d.clone().rehearse_on_cpu().ok())
            .collect::<Vec<_>>();
        assert_eq!(
            rehearsals.iter().filter(|d| d.rehearsal).count(),
            3,
            "the layer maps (of two GPUs and of one) and the topology are rehearsed as such"
        );
        let multimodal = Description {
            modality: Modality::Multimodal,
            arch: Some("qwen2_5vl".into()),
            max_images: Some(2),
            max_image_length: Some(1280),
            ..cases[0].clone()
        };
        for original in cases.into_iter().chain(rehearsals).chain([multimodal]) {
            let back = cli::tests::parse(&command_line(&original));
            let vision = original.modality == Modality::Multimodal;
            assert_eq!(
                back,
                Description {
                    model_id: String::new(),
                    // The stock binary detects vision architectures itself.
                    arch: original.arch.clone().filter(|_| !vision),
                    ..original.clone()
                }
            );
            let text = config_file::render(&original);
            assert_eq!(
                config_file::tests::parse(&text, &original),
                original,
                "{text}"
            );
        }
    }
}
