use super::template::{block, key, off, wrap};

#[test]
fn shorter_contexts_are_powers_of_two_below_the_model_s() {
    let got: Vec<u64> = shorter_contexts(40_960).collect();
    assert_eq!(got, [32768, 16384, 8192, 4096, 2048]);
    assert_eq!(shorter_contexts(2048).count(), 0);
}
use super::draft::*;
use super::source::*;
use super::*;
use crate::manifest::ModelSource;
use crate::manifest::wire::RawManifest;
use crate::model::ShapeOrigin;
use crate::units::{ByteSize, DType, Quantization};

fn sample(layout: Layout) -> Draft {
    Draft {
        command: "deployctl init --model Qwen/Qwen2.5-7B-Instruct --gpus 4x24GiB".into(),
        output: "deploy.toml".into(),
        model_label: "Qwen/Qwen2.5-7B-Instruct".into(),
        hardware_label: Some("4 × 24 GiB".into()),
        plan_command: "deployctl plan deploy.toml".into(),
        name: "qwen2.5-7b-instruct".into(),
        source: "Qwen/Qwen2.5-7B-Instruct".into(),
        source_note: "hub id; its shape comes from the built-in catalog".into(),
        hub: true,
        gguf: false,
        architecture: "Qwen2ForCausalLM".into(),
        modality: Modality::Text,
        dtype: Some(DType::Bf16),
        quantization: Quantization::None,
        max_seq_len: 32768,
        context: 32768,
        from_flag: false,
        expect: Some(Expect {
            count: 4,
            memory: ByteSize::gib(24),
            min_compute_capability: None,
            mixed: false,
        }),
        layout,
        why: vec![
            "auto picks tensor parallel ×4 (GPU 0, GPU 1, GPU 2, GPU 3): of the layouts that fit, it leaves the most memory free on its tightest GPU (13.64 GiB).".to_owned(),
            "The others:".to_owned(),
            "  single GPU (GPU 0): fits with less headroom on its tightest GPU (641.78 MiB vs 13.64 GiB)".to_owned(),
        ],
    }
}

fn layouts() -> Vec<Layout> {
    vec![
        Layout::Undecided,
        Layout::Auto,
        Layout::Tensor {
            size: 2,
            gpus: Some(vec![0, 1]),
        },
        Layout::Pipeline {
            gpus: None,
            layers: vec![7, 7, 7, 7],
        },
    ]
}

#[test]
fn every_layout_renders_a_manifest_of_known_keys() {
    for layout in layouts() {
        let text = render(&sample(layout.clone()));
        let raw: RawManifest = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let strategy = raw.parallelism.unwrap().strategy.unwrap();
        let expected = match layout {
            Layout::Undecided | Layout::Auto => "auto",
            Layout::Tensor { .. } => "tensor",
            Layout::Pipeline { .. } => "pipeline",
        };
        assert_eq!(strategy.name(), expected);
        assert_eq!(raw.devices.unwrap().expect.unwrap().count, Some(4));
    }
}

#[test]
fn every_key_has_a_comment_and_lines_stay_narrow() {
    for layout in layouts() {
        let text = render(&sample(layout));
        for line in text.lines() {
            assert!(line.chars().count() <= 100, "too wide: {line}");
            let is_key = !line.is_empty() && !line.starts_with('#') && !line.starts_with('[');
            assert!(!is_key || line.contains("  # "), "no comment: {line}");
        }
    }
}

#[test]
fn a_quantized_draft_keeps_the_unquantized_line_as_an_alternative() {
    let mut d = sample(Layout::Auto);
    d.quantization = Quantization::Q8_0;
    let text = render(&d);
    assert!(text.contains("\nquantization = \"q8_0\""), "{text}");
    assert!(text.contains("\n# quantization = \"none\""), "{text}");
}

#[test]
fn mixed_gpus_leave_memory_out_of_the_expectation() {
    let mut d = sample(Layout::Auto);
    d.expect = Some(Expect {
        count: 2,
        memory: ByteSize::gib(24),
        min_compute_capability: None,
        mixed: true,
    });
    let raw: RawManifest = toml::from_str(&render(&d)).unwrap();
    let expect = raw.devices.unwrap().expect.unwrap();
    assert_eq!(expect.count, Some(2));
    assert_eq!(expect.memory, None);
}

#[test]
fn a_multimodal_model_gets_its_image_limits() {
    let mut d = sample(Layout::Undecided);
    d.modality = Modality::Multimodal;
    let raw: RawManifest = toml::from_str(&render(&d)).unwrap();
    let workload = raw.workload.unwrap();
    assert_eq!(workload.max_images, Some(1));
    assert_eq!(workload.max_image_size, Some([1024, 1024]));
}

#[test]
fn comments_align_in_a_column_unless_the_key_is_long() {
    let mut out = String::new();
    block(
        &mut out,
        &[
            key("a = 1", "one"),
            off("bb = 2", "two"),
            key(format!("c = \"{}\"", "x".repeat(40)), "long"),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "a = 1     # one");
    assert_eq!(lines[1], "# bb = 2  # two");
    assert!(lines[2].ends_with("\"  # long"));
}

#[test]
fn wraps_at_spaces_and_hangs_list_items() {
    assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
    assert_eq!(wrap("  item one two", 10), ["  item one", "    two"]);
    assert!(wrap("", 10).is_empty());
}

#[test]
fn sizes_are_written_in_the_largest_whole_unit() {
    assert_eq!(size_text(ByteSize::gib(80)), "80GiB");
    assert_eq!(size_text(ByteSize::mib(81_559)), "81559MiB");
    assert_eq!(size_text(ByteSize(16_000_000_000)), "16GB");
    assert_eq!(size_text(ByteSize(1234)), "1234B");
    // Each reads back as the same size.
    for text in ["80GiB", "81559MiB", "16GB", "1234B"] {
        let size = crate::units::parse_size(text).unwrap();
        assert_eq!(size_text(size), text);
    }
}

#[test]
fn names_come_from_the_model() {
    let hub = ModelSource::Hub { id: "x/y".into() };
    let gguf = ModelSource::Gguf {
        path: "/m.gguf".into(),
    };
    let dir = ModelSource::LocalDirectory { path: "/m".into() };
    assert_eq!(
        deployment_name("Qwen/Qwen2.5-7B-Instruct", &hub),
        "qwen2.5-7b-instruct"
    );
    assert_eq!(
        deployment_name("SmolLM2-135M-Instruct.Q4_1.gguf", &gguf),
        "smollm2-135m-instruct.q4_1"
    );
    assert_eq!(deployment_name("My Model (v2)", &dir), "my-model-v2");
    assert_eq!(deployment_name("++", &dir), "deployment");
}

#[test]
fn local_sources_are_written_relative_to_the_manifest() {
    let origin = ShapeOrigin::Gguf { path: "/x".into() };
    let gguf = |p: &str| ModelSource::Gguf { path: p.into() };
    let dir = Path::new("/repo/prod");
    assert_eq!(
        written_source("models/m.gguf", &gguf("/repo/models/m.gguf"), &origin, dir),
        "../models/m.gguf"
    );
    assert_eq!(
        written_source("prod/m.gguf", &gguf("/repo/prod/m.gguf"), &origin, dir),
        "./m.gguf"
    );
    assert_eq!(
        written_source("/srv/m.gguf", &gguf("/srv/m.gguf"), &origin, dir),
        "/srv/m.gguf"
    );
    let catalog = ShapeOrigin::Catalog {
        id: "Qwen/Qwen2.5-7B-Instruct".into(),
        address: String::new(),
    };
    let hub = ModelSource::Hub {
        id: "qwen/qwen2.5-7b-instruct".into(),
    };
    assert_eq!(
        written_source("qwen/qwen2.5-7b-instruct", &hub, &catalog, dir),
        "Qwen/Qwen2.5-7B-Instruct"
    );
}

#[test]
fn the_expectation_records_the_smallest_gpu_and_says_when_they_differ() {
    let same = inventory::spec::parse("2xA100-80GB").unwrap();
    let e = expect_of(&same).unwrap();
    assert_eq!((e.count, e.mixed), (2, false));
    assert_eq!(e.min_compute_capability.unwrap().to_string(), "8.0");
    let mixed = inventory::spec::parse("A100-80GB,24GiB").unwrap();
    let e = expect_of(&mixed).unwrap();
    assert_eq!((e.memory, e.mixed), (ByteSize::gib(24), true));
    assert_eq!(e.min_compute_capability, None, "the 24GiB GPU's is unknown");
    assert_eq!(
        mixed.describe(),
        "1 × NVIDIA A100-SXM4-80GB (80 GiB) + 1 × 24 GiB"
    );
}

#[test]
fn near_misses_of_catalog_ids_are_suggested() {
    assert!(did_you_mean("qwen2.5-7b-instruct").contains("`Qwen/Qwen2.5-7B-Instruct`"));
    assert!(did_you_mean("Qwen/Qwen2.5-7B-Instrct").contains("`Qwen/Qwen2.5-7B-Instruct`"));
    assert_eq!(did_you_mean("nobody/nothing"), "");
    assert_eq!(
        did_you_mean("Qwen/Qwen2-VL-7B-Instruct"),
        "",
        "listed without a config"
    );
}

#[test]
fn shell_words_are_quoted_only_when_they_must_be() {
    assert_eq!(shell_word("H100-80GB,RTX4090"), "H100-80GB,RTX4090");
    assert_eq!(shell_word("my model"), "'my model'");
}
