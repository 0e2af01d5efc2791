//! Shapes read from a real (tiny, generated) safetensors checkpoint: exact
//! names and bytes from its headers, without loading the data.

use deployctl::manifest::{Model, ModelSource, values::ModelKind};
use deployctl::model::{self, ShapeOrigin, StoredDtype};
use safetensors::tensor::{Dtype, TensorView};

const CONFIG: &str = r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_act":"silu",
 "hidden_size":64,"intermediate_size":128,"vocab_size":300,"num_hidden_layers":3,"num_attention_heads":4,
 "num_key_value_heads":2,"rms_norm_eps":1e-5,"rope_theta":10000.0,"max_position_embeddings":256,
 "tie_word_embeddings":false,"torch_dtype":"float32"}"#;

/// Writes the checkpoint the config describes, in f32, split over two shards.
fn write_checkpoint(dir: &std::path::Path) -> u64 {
    std::fs::write(dir.join("config.json"), CONFIG).unwrap();
    let json: serde_json::Value = serde_json::from_str(CONFIG).unwrap();
    let shape = model::from_config(&json).unwrap();
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> = shape
        .tensors
        .iter()
        .map(|t| {
            let dims: Vec<usize> = t.dims.iter().map(|d| *d as usize).collect();
            (t.name.clone(), dims, vec![0u8; t.elements() as usize * 4])
        })
        .collect();
    let (first, second) = buffers.split_at(buffers.len() / 2);
    let mut total = 0;
    for (name, part) in [
        ("model-00001-of-00002.safetensors", first),
        ("model-00002-of-00002.safetensors", second),
    ] {
        let views: Vec<(String, TensorView<'_>)> = part
            .iter()
            .map(|(n, dims, data)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, dims.clone(), data).unwrap(),
                )
            })
            .collect();
        total += part.iter().map(|(_, _, d)| d.len() as u64).sum::<u64>();
        safetensors::serialize_to_file(views, None, &dir.join(name)).unwrap();
    }
    total
}

#[test]
fn exact_bytes_and_names_come_from_the_shard_headers() {
    let dir = tempfile::tempdir().unwrap();
    let data_bytes = write_checkpoint(dir.path());
    let model = Model {
        source: ModelSource::LocalDirectory {
            path: dir.path().to_path_buf(),
        },
        config: None,
        kind: ModelKind::Auto,
        revision: None,
        tokenizer: None,
        chat_template: None,
    };
    let resolved = model::resolve(&model, &|_| None).unwrap();
    assert!(
        matches!(
            resolved.origin,
            ShapeOrigin::LocalDirectory { shards: 2, .. }
        ),
        "{:?}",
        resolved.origin
    );
    let shape = resolved.shape;
    assert!(shape.exact_tensors);
    // 3 layers × 9 tensors, plus embeddings, final norm and lm_head.
    assert_eq!(shape.tensors.len(), 3 * 9 + 3);
    assert!(shape.tensors.iter().all(|t| t.dtype == StoredDtype::F32));
    assert_eq!(
        shape.tensors.iter().map(|t| t.bytes).sum::<u64>(),
        data_bytes
    );
    let embed = shape
        .tensors
        .iter()
        .find(|t| t.name == "model.embed_tokens.weight")
        .unwrap();
    assert_eq!(
        (embed.dims.clone(), embed.bytes),
        (vec![300, 64], 300 * 64 * 4)
    );
}

#[test]
fn a_corrupt_shard_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), CONFIG).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{not json",
    )
    .unwrap();
    let model = Model {
        source: ModelSource::LocalDirectory {
            path: dir.path().to_path_buf(),
        },
        config: None,
        kind: ModelKind::Auto,
        revision: None,
        tokenizer: None,
        chat_template: None,
    };
    match model::resolve(&model, &|_| None) {
        Err(model::ResolveError::Invalid { reason, .. }) => {
            assert!(reason.contains("model.safetensors"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
