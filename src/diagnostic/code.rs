//! The catalogue of diagnostic codes.
//!
//! Codes are part of the CLI contract: CI jobs match on them, so a code is never
//! renamed or reused. Each one is documented in `docs/diagnostics.md`.

use serde::Serialize;

/// The repository whose `docs/diagnostics.md` each diagnostic links to.
///
/// Cargo.toml names no `repository` yet, so the base URL lives here, once. When
/// Cargo.toml gets one, a test requires the two to agree; forks that publish
/// their own reference change this constant.
pub const REPOSITORY: &str = "https://github.com/deployctl/deployctl";

/// The diagnostics reference, relative to [`REPOSITORY`].
const REFERENCE: &str = "blob/main/docs/diagnostics.md";

macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The full code as printed, e.g. `deployctl::manifest::unknown_key`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }
        }

        impl Code {
            /// The anchor of this code's section in `docs/diagnostics.md`: the id GitHub
            /// gives the heading `### deployctl::manifest::unknown_key`, which drops the
            /// colons: `deployctlmanifestunknown_key`.
            pub fn anchor(self) -> String {
                self.as_str().replace("::", "")
            }

            /// The code's section of the diagnostics reference.
            pub fn url(self) -> String {
                format!("{REPOSITORY}/{REFERENCE}#{}", self.anchor())
            }
        }
    };
}

impl Code {
    /// Whether an error with `code` says that the deployment does not fit its
    /// hardware (budgets, the preflight), rather than that its input is wrong.
    pub fn is_misfit(self) -> bool {
        matches!(
            self,
            Code::DoesNotFit
                | Code::FirstGpuOverloaded
                | Code::KvCacheTooLarge
                | Code::CpuSpillDisabled
                | Code::LimitAbovePhysical
                | Code::ExpectationNotMet
                | Code::GpuBusy
                | Code::GpuHidden
                | Code::MigEnabled
                | Code::FlashAttentionUnsupported
                | Code::PoorTopology
                | Code::HostOverCommitted
                | Code::KubernetesOneNode
        )
    }
}

codes! {
    /// A manifest or `extends` file could not be read.
    Unreadable => "deployctl::manifest::unreadable",
    /// The file is not valid TOML.
    Syntax => "deployctl::manifest::syntax",
    /// A key that the manifest format does not have.
    UnknownKey => "deployctl::manifest::unknown_key",
    /// A value of the wrong TOML type.
    InvalidType => "deployctl::manifest::invalid_type",
    /// A value outside a fixed set of choices.
    InvalidValue => "deployctl::manifest::invalid_value",
    /// A number below or above its allowed range.
    OutOfRange => "deployctl::manifest::out_of_range",
    /// A required key is absent.
    MissingKey => "deployctl::manifest::missing_key",
    /// `version` names a format this build does not read.
    UnsupportedVersion => "deployctl::manifest::unsupported_version",
    /// A byte size that cannot be parsed, is negative, zero where meaningless, or overflows.
    InvalidSize => "deployctl::manifest::invalid_size",
    /// Several sizes written in one string, the shape other tools' command lines use.
    SizeListInString => "deployctl::manifest::size_list_in_string",
    /// A percentage outside 1%..100% or malformed.
    InvalidPercentage => "deployctl::manifest::invalid_percentage",
    /// An `extends` entry names a file that does not exist.
    ExtendsNotFound => "deployctl::manifest::extends_not_found",
    /// `extends` files include each other.
    ExtendsCycle => "deployctl::manifest::extends_cycle",
    /// An option that belongs to another parallelism strategy.
    StrategyMismatch => "deployctl::manifest::strategy_mismatch",
    /// `strategy = "manual"` without a `map`/`map_file`, or with both.
    ManualMapChoice => "deployctl::manifest::manual_map_choice",
    /// A per-GPU list whose length differs from `devices.gpus`.
    GpuCountMismatch => "deployctl::manifest::gpu_count_mismatch",
    /// The same GPU listed twice.
    DuplicateGpu => "deployctl::manifest::duplicate_gpu",
    /// A GPU reference that is neither an ordinal nor a GPU/MIG UUID.
    InvalidGpuId => "deployctl::manifest::invalid_gpu_id",
    /// A GPU referenced by the layer map or expected hardware that the manifest does not list.
    UnknownGpu => "deployctl::manifest::unknown_gpu",
    /// A layer range that cannot be parsed or runs backwards.
    InvalidLayerRange => "deployctl::manifest::invalid_layer_range",
    /// Two map entries claim the same layer.
    OverlappingLayers => "deployctl::manifest::overlapping_layers",
    /// A layer-map file that cannot be read or is not an accelerate-style map.
    InvalidMapFile => "deployctl::manifest::invalid_map_file",
    /// A tensor-parallel size that mistral.rs cannot run.
    InvalidTensorSize => "deployctl::manifest::invalid_tensor_size",
    /// A pipeline split with an empty stage.
    EmptyPipelineStage => "deployctl::manifest::empty_pipeline_stage",
    /// Image limits on a model declared text-only.
    MultimodalOnly => "deployctl::manifest::multimodal_only",
    /// An API key written inline in the manifest.
    InlineSecret => "deployctl::manifest::inline_secret",
    /// A referenced file (config, tokenizer, chat template) that does not exist.
    FileNotFound => "deployctl::manifest::file_not_found",
    /// A chat template that is neither `.jinja` nor `.json`.
    InvalidChatTemplate => "deployctl::manifest::invalid_chat_template",
    /// A tokenizer file that is not a Hugging Face `tokenizer.json`.
    InvalidTokenizer => "deployctl::manifest::invalid_tokenizer",
    /// A model source that is neither a local path nor a hub id, or a hub-only key on a local source.
    InvalidModelSource => "deployctl::manifest::invalid_model_source",
    /// A deployment name that cannot serve as a model id.
    InvalidName => "deployctl::manifest::invalid_name",
    /// A host that is neither an IP address nor a host name.
    InvalidHost => "deployctl::manifest::invalid_host",
    /// A compute capability that is not `MAJOR.MINOR`.
    InvalidComputeCapability => "deployctl::manifest::invalid_compute_capability",
    /// Warning: the server binds beyond loopback with no API key.
    PublicWithoutApiKey => "deployctl::manifest::public_without_api_key",
    /// Warning: the server admits more sequences than the workload sizes memory for.
    MaxSeqsAboveBatch => "deployctl::manifest::max_seqs_above_batch",
    /// Warning: an absolute `max_memory` larger than `devices.expect.memory`.
    LimitAboveExpected => "deployctl::manifest::limit_above_expected",
    /// The model's shape could not be found offline.
    ModelNotFound => "deployctl::plan::model_not_found",
    /// The model's architecture is one mistral.rs 0.8.1 cannot load.
    UnsupportedArchitecture => "deployctl::plan::unsupported_architecture",
    /// A model config or checkpoint header that cannot be read.
    InvalidModelConfig => "deployctl::plan::invalid_model_config",
    /// No GPUs to plan for: no inventory, `--gpus` or `[devices.expect]`.
    NoHardware => "deployctl::plan::no_hardware",
    /// An inventory file or `--gpus` spec that cannot be read.
    InvalidInventory => "deployctl::plan::invalid_inventory",
    /// A GPU in `devices.gpus` that the inventory does not have.
    GpuNotFound => "deployctl::plan::gpu_not_found",
    /// Warning: a `max_memory` limit larger than the GPU minus `reserve`.
    LimitAbovePhysical => "deployctl::plan::limit_above_physical",
    /// The model and workload do not fit in the GPUs' limits.
    DoesNotFit => "deployctl::plan::does_not_fit",
    /// The first GPU cannot hold its fixed parts and activations.
    FirstGpuOverloaded => "deployctl::plan::first_gpu_overloaded",
    /// The weights fit but the KV cache for the workload does not.
    KvCacheTooLarge => "deployctl::plan::kv_cache_too_large",
    /// bf16 on a GPU below compute capability 8.0.
    Bf16Unsupported => "deployctl::plan::bf16_unsupported",
    /// Layers would spill to host memory, but `cpu_offload = false`.
    CpuSpillDisabled => "deployctl::plan::cpu_spill_disabled",
    /// `parallelism.layers` does not add up to the model's layer count.
    LayersSumMismatch => "deployctl::plan::layers_sum_mismatch",
    /// A manual map leaves layers without a GPU.
    LayersUnmapped => "deployctl::plan::layers_unmapped",
    /// A manual map names a layer the model does not have.
    LayerOutOfRange => "deployctl::plan::layer_out_of_range",
    /// A `map_file` name that matches no tensor of the checkpoint.
    UnknownModule => "deployctl::plan::unknown_module",
    /// Warning: a `map_file` entry mistral.rs cannot honour (embeddings, lm_head).
    IgnoredMapEntry => "deployctl::plan::ignored_map_entry",
    /// A tensor-parallel size the model's heads or MLP cannot be split by.
    TensorSizeIncompatible => "deployctl::plan::tensor_size_incompatible",
    /// Warning: GPUs listed but left out of a tensor-parallel group.
    GpusLeftOut => "deployctl::plan::gpus_left_out",
    /// Warning: tensor-parallel ranks with different limits; the smallest bounds all.
    UnevenRanks => "deployctl::plan::uneven_ranks",
    /// Warning: a listed GPU that the pipeline gives no layers.
    GpuWithoutLayers => "deployctl::plan::gpu_without_layers",
    /// `model.kind` or image limits that contradict the model.
    ModalityMismatch => "deployctl::plan::modality_mismatch",
    /// Warning: `max_seq_len` beyond the model's trained context.
    ContextAboveModel => "deployctl::plan::context_above_model",
    /// Warning: the model's config sets a key that changes its layout, which
    /// deployctl does not read for this architecture.
    UnmodelledConfigKey => "deployctl::plan::unmodelled_config_key",
    /// mistral.rs loads the architecture, but deployctl lays it out only from
    /// the checkpoint's own headers, and none are at hand.
    CheckpointNeeded => "deployctl::plan::checkpoint_needed",
    /// Layers on the CPU of a model mistral.rs 0.8.1 cannot run there.
    CpuUnsupported => "deployctl::plan::cpu_unsupported",
    /// The machine does not meet `[devices.expect]`.
    ExpectationNotMet => "deployctl::preflight::expectation_not_met",
    /// A planned GPU whose free memory, held by other processes, is below the plan.
    GpuBusy => "deployctl::preflight::gpu_busy",
    /// A planned GPU that `CUDA_VISIBLE_DEVICES` hides from this process.
    GpuHidden => "deployctl::preflight::gpu_hidden",
    /// A planned GPU in MIG mode, which CUDA shows only as MIG instances.
    MigEnabled => "deployctl::preflight::mig_enabled",
    /// Flash attention on a GPU below compute capability 8.0.
    FlashAttentionUnsupported => "deployctl::preflight::flash_attention_unsupported",
    /// Warning: GPUs that talk across sockets without NVLink when a better-connected set exists.
    PoorTopology => "deployctl::preflight::poor_topology",
    /// Warning: a GPU of a declared host holds more memory than the other
    /// deployments the repository places there plan.
    UnplannedUse => "deployctl::preflight::unplanned_use",
    /// `devices.expect.host` names a machine with no `hosts/HOST.toml` inventory.
    HostUnknown => "deployctl::plan::host_unknown",
    /// The deployments placed on one host plan more memory on a GPU than it has.
    HostOverCommitted => "deployctl::plan::host_over_committed",
    /// A Kubernetes render without `kubernetes.image`.
    KubernetesNoImage => "deployctl::kubernetes::no_image",
    /// `devices.gpus` by UUID or by this machine's ordinals, which a pod does not have.
    KubernetesHostGpus => "deployctl::kubernetes::host_gpus",
    /// A path the pod does not have: relative to the manifest, or outside the mounts.
    KubernetesPodPath => "deployctl::kubernetes::pod_path",
    /// `server.host` on loopback, which probes and the Service cannot reach.
    KubernetesLoopbackHost => "deployctl::kubernetes::loopback_host",
    /// Warning: a rendered Service without an API key.
    KubernetesOpenService => "deployctl::kubernetes::open_service",
    /// A plan over several GPUs requested as MIG slices.
    KubernetesMigSlices => "deployctl::kubernetes::mig_slices",
    /// A plan that does not fit one pod's GPUs: no layout across nodes is rendered.
    KubernetesOneNode => "deployctl::kubernetes::one_node",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_snake_case() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "duplicate code {name}");
            let last = name.rsplit("::").next().unwrap();
            assert!(
                last.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name} is not snake_case"
            );
            assert!(name.starts_with("deployctl::"), "{name}");
        }
    }

    #[test]
    fn urls_point_into_the_diagnostics_reference() {
        assert_eq!(
            Code::UnknownKey.url(),
            "https://github.com/deployctl/deployctl/blob/main/docs/diagnostics.md\
             #deployctlmanifestunknown_key"
        );
        // GitHub keeps letters, digits, `-` and `_` of a heading and drops `:`;
        // anything else in a code would make the anchor differ from `anchor()`.
        for code in Code::ALL {
            assert!(
                code.anchor()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{code}"
            );
        }
    }

    /// Codes are an interface (CI filters on them, docs link to them): one
    /// renamed or removed changes this snapshot, which a review must accept.
    /// New codes are added at the end of their namespace's list.
    #[test]
    fn the_codes_are_never_renamed() {
        let list: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        insta::assert_snapshot!(list.join("\n"));
    }

    #[test]
    fn repository_agrees_with_cargo_toml() {
        let declared = env!("CARGO_PKG_REPOSITORY");
        assert!(
            declared.is_empty() || declared.trim_end_matches('/') == REPOSITORY,
            "Cargo.toml says `repository = \"{declared}\"`, but diagnostics link to {REPOSITORY}: \
             update `REPOSITORY` in src/diagnostic/code.rs"
        );
    }
}
