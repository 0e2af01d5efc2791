//! The header of a GGUF file: its metadata and tensor table, read without the
//! tensor data. Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.
//! (The `gguf` crate on crates.io predates BF16 and the i-quants, so this small
//! reader covers what the planner needs.)

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::shape::{Modality, ModelShape, TextShape};
use super::tensors::{StoredDtype, Tensor, TensorSizeError};

/// A metadata value; arrays keep only their length (tokenizer vocabularies are large).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Array(u64),
}

/// `(block, bytes per block)` of a ggml tensor type (ggml `type_traits`).
fn ggml_type(code: u32) -> Option<StoredDtype> {
    let q = |block, block_bytes| StoredDtype::Quantized { block, block_bytes };
    Some(match code {
        0 => StoredDtype::F32,
        1 => StoredDtype::F16,
        2 => q(32, 18),
        3 => q(32, 20),
        6 => q(32, 22),
        7 => q(32, 24),
        8 => q(32, 34),
        9 => q(32, 36),
        10 => q(256, 84),
        11 => q(256, 110),
        12 => q(256, 144),
        13 => q(256, 176),
        14 => q(256, 210),
        15 => q(256, 292),
        24 => StoredDtype::I8,
        25 => StoredDtype::Other { size: 2 },
        26 => StoredDtype::Other { size: 4 },
        27 | 28 => StoredDtype::Other { size: 8 },
        30 => StoredDtype::Bf16,
        _ => return None,
    })
}

/// Most tokens a vocabulary may have.
const MAX_VOCAB: u64 = 1 << 24;

/// Why a GGUF file gives no model shape.
#[derive(Debug, thiserror::Error)]
pub(super) enum GgufError {
    #[error("{}", crate::diagnostic::io_reason(.0))]
    Unreadable(#[source] std::io::Error),
    #[error("the header runs past 256 MiB: not a GGUF header")]
    TooLong,
    #[error("truncated header")]
    Truncated,
    #[error("not a GGUF file (no GGUF magic)")]
    NoMagic,
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    Version(u32),
    #[error("implausible tensor or metadata count")]
    ImplausibleCount,
    #[error("a string of {0} bytes is not a GGUF header")]
    LongString(u64),
    #[error("a metadata string is not UTF-8")]
    NotUtf8,
    #[error("nested arrays are not supported")]
    NestedArray,
    #[error("unknown metadata type {0}")]
    MetadataType(u32),
    #[error("tensor `{name}` has {dims} dimensions")]
    Dimensions { name: String, dims: u32 },
    #[error("tensor `{name}` has unsupported ggml type {code}")]
    TensorType { name: String, code: u32 },
    #[error(transparent)]
    Implausible(#[from] TensorSizeError),
    #[error("`general.architecture` is missing")]
    NoArchitecture,
    #[error("`{arch}.{key}` is missing")]
    Missing { arch: String, key: &'static str },
    /// A shape number zero or past what any model has.
    #[error("`{arch}.{key}` is {value}, not a model's (1 to {max})")]
    OutOfRange {
        arch: String,
        key: &'static str,
        value: u64,
        max: u64,
    },
    #[error("the vocabulary size is missing")]
    NoVocabulary,
    #[error("the vocabulary has {tokens} tokens, not a model's (1 to {MAX_VOCAB})")]
    Vocabulary { tokens: u64 },
}

/// Why a header could not be parsed from the bytes at hand.
enum Failure {
    /// The bytes ended inside the header: read more, or the file is truncated.
    Short,
    Invalid(GgufError),
}

impl From<GgufError> for Failure {
    fn from(e: GgufError) -> Self {
        Failure::Invalid(e)
    }
}

impl From<TensorSizeError> for Failure {
    fn from(e: TensorSizeError) -> Self {
        Failure::Invalid(e.into())
    }
}

/// A cursor over the bytes read so far. Parsing from memory rather than
/// through `Read` keeps skipping a vocabulary (some 100,000 short strings)
/// cheap even in an unoptimised build.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], Failure> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.data.len())
            .ok_or(Failure::Short)?;
        let taken = &self.data[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Failure> {
        let mut b = [0u8; N];
        b.copy_from_slice(self.take(N as u64)?);
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, Failure> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn u64(&mut self) -> Result<u64, Failure> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    fn string(&mut self) -> Result<String, Failure> {
        let len = self.u64()?;
        if len > 1 << 24 {
            return Err(GgufError::LongString(len).into());
        }
        let bytes = self.take(len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| GgufError::NotUtf8.into())
    }

    /// Skips an array of strings with plain arithmetic: vocabularies and merge
    /// lists are some 100,000 strings each, and this is most of `validate`'s
    /// time in an unoptimised build.
    fn skip_strings(&mut self, count: u64) -> Result<(), Failure> {
        let data = self.data;
        let mut pos = self.pos;
        for _ in 0..count {
            if data.len() - pos < 8 {
                return Err(Failure::Short);
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&data[pos..pos + 8]);
            let len = u64::from_le_bytes(len);
            if len > 1 << 24 {
                return Err(GgufError::LongString(len).into());
            }
            pos += 8;
            if len as usize > data.len() - pos {
                return Err(Failure::Short);
            }
            pos += len as usize;
        }
        self.pos = pos;
        Ok(())
    }

    fn value(&mut self, kind: u32) -> Result<Value, Failure> {
        Ok(match kind {
            0 => Value::Uint(u64::from(self.bytes::<1>()?[0])),
            1 => Value::Int(i64::from(self.bytes::<1>()?[0] as i8)),
            2 => Value::Uint(u64::from(u16::from_le_bytes(self.bytes()?))),
            3 => Value::Int(i64::from(i16::from_le_bytes(self.bytes()?))),
            4 => Value::Uint(u64::from(self.u32()?)),
            5 => Value::Int(i64::from(i32::from_le_bytes(self.bytes()?))),
            6 => Value::Float(f64::from(f32::from_le_bytes(self.bytes()?))),
            7 => Value::Bool(self.bytes::<1>()?[0] != 0),
            8 => Value::Text(self.string()?),
            9 => {
                let item = self.u32()?;
                let count = self.u64()?;
                if item == 8 {
                    self.skip_strings(count)?;
                    return Ok(Value::Array(count));
                }
                for _ in 0..count {
                    match item {
                        9 => return Err(GgufError::NestedArray.into()),
                        _ => drop(self.value(item)?),
                    }
                }
                Value::Array(count)
            }
            10 => Value::Uint(self.u64()?),
            11 => Value::Int(i64::from_le_bytes(self.bytes()?)),
            12 => Value::Float(f64::from_le_bytes(self.bytes()?)),
            other => return Err(GgufError::MetadataType(other).into()),
        })
    }
}

/// Reads the shape of the model in a GGUF file. Only the header is read: the
/// first 2 MiB (a 50,000-token vocabulary and its merges), then four times as
/// much until the header fits. Reading more up front costs more than parsing
/// twice.
pub(super) fn read(path: &Path) -> Result<ModelShape, GgufError> {
    read_growing(path, 2 << 20)
}

fn read_growing(path: &Path, first: u64) -> Result<ModelShape, GgufError> {
    /// No real header comes near this; a corrupt length must not read 40 GB.
    const LIMIT: u64 = 1 << 28;
    let file = crate::files::open(path).map_err(GgufError::Unreadable)?;
    let mut prefix = Vec::new();
    let mut want = first;
    loop {
        (&file)
            .take(want - prefix.len() as u64)
            .read_to_end(&mut prefix)
            .map_err(GgufError::Unreadable)?;
        match parse(&prefix) {
            Ok(shape) => return Ok(shape),
            Err(Failure::Short) if prefix.len() as u64 == want && want < LIMIT => want *= 4,
            Err(Failure::Short) if prefix.len() as u64 == want => {
                return Err(GgufError::TooLong);
            }
            Err(Failure::Short) => return Err(GgufError::Truncated),
            Err(Failure::Invalid(e)) => return Err(e),
        }
    }
}

/// The shape of the model whose GGUF header starts `data`.
fn parse(data: &[u8]) -> Result<ModelShape, Failure> {
    let mut r = Reader { data, pos: 0 };
    if &r.bytes::<4>()? != b"GGUF" {
        return Err(GgufError::NoMagic.into());
    }
    let version = r.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version).into());
    }
    let tensor_count = r.u64()?;
    let kv_count = r.u64()?;
    if tensor_count > 1 << 20 || kv_count > 1 << 20 {
        return Err(GgufError::ImplausibleCount.into());
    }
    let mut meta = BTreeMap::new();
    for _ in 0..kv_count {
        let key = r.string()?;
        let kind = r.u32()?;
        meta.insert(key, r.value(kind)?);
    }
    let mut tensors = Vec::new();
    for _ in 0..tensor_count {
        let name = r.string()?;
        let n_dims = r.u32()?;
        if n_dims > 8 {
            return Err(GgufError::Dimensions { name, dims: n_dims }.into());
        }
        // GGUF lists dimensions innermost first; reverse to the usual order.
        let mut dims = (0..n_dims)
            .map(|_| r.u64())
            .collect::<Result<Vec<_>, _>>()?;
        dims.reverse();
        let code = r.u32()?;
        let dtype = ggml_type(code).ok_or_else(|| GgufError::TensorType {
            name: name.clone(),
            code,
        })?;
        let _offset = r.u64()?;
        tensors.push(Tensor::new(name, dims, dtype));
    }

    super::tensors::check_plausible(&tensors)?;
    let arch = match meta.get("general.architecture") {
        Some(Value::Text(a)) => a.clone(),
        _ => return Err(GgufError::NoArchitecture.into()),
    };
    let uint = |key: &str| match meta.get(&format!("{arch}.{key}")) {
        Some(Value::Uint(n)) => Some(*n),
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    // Every shape number in range: zero layers or heads pass the header but
    // panic mistral.rs at load, and huge ones overflow every sum after.
    let need = |key: &'static str| -> Result<u64, Failure> {
        let n = uint(key).ok_or_else(|| GgufError::Missing {
            arch: arch.clone(),
            key,
        })?;
        let max = match key {
            "block_count" => 10_000,
            "context_length" => 1 << 32,
            _ => 1 << 24,
        };
        if n == 0 || n > max {
            return Err(GgufError::OutOfRange {
                arch: arch.clone(),
                key,
                value: n,
                max,
            }
            .into());
        }
        Ok(n)
    };
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    let vocab = uint("vocab_size")
        .or(match meta.get("tokenizer.ggml.tokens") {
            Some(Value::Array(n)) => Some(*n),
            _ => None,
        })
        .or_else(|| {
            tensors
                .iter()
                .find(|t| t.name == "token_embd.weight")
                .map(|t| t.dims[0])
        })
        .ok_or(GgufError::NoVocabulary)?;
    if vocab == 0 || vocab > MAX_VOCAB {
        return Err(GgufError::Vocabulary { tokens: vocab }.into());
    }
    let architecture = super::architectures::gguf_class(&arch)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("gguf:{arch}"));
    let text = TextShape {
        layers: need("block_count")?,
        hidden,
        heads,
        kv_heads: match uint("attention.head_count_kv") {
            Some(_) => need("attention.head_count_kv")?,
            None => heads,
        },
        head_dim: match uint("attention.key_length") {
            Some(_) => need("attention.key_length")?,
            None => (hidden / heads).max(1),
        },
        intermediate: need("feed_forward_length")?,
        vocab,
        max_position_embeddings: need("context_length")?,
        tie_word_embeddings: !tensors.iter().any(|t| t.name == "output.weight"),
        qkv_bias: tensors.iter().any(|t| t.name.ends_with("attn_q.bias")),
        qk_norm: tensors
            .iter()
            .any(|t| t.name.ends_with("attn_q_norm.weight")),
        norms_per_layer: 2,
        attention: super::shape::Attention::Standard,
        // Experts come with the file's own tensors; the count is for messages.
        moe: None,
        recurrent: None,
        unread_keys: Vec::new(),
    };
    Ok(ModelShape {
        architecture,
        modality: Modality::Text,
        torch_dtype: None,
        text,
        vision: None,
        tensors,
        exact_tensors: true,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a GGUF file with the given metadata and tensors (name, dims as
    /// usual order, ggml type).
    pub(crate) fn write(
        path: &Path,
        arch: &str,
        meta: &[(&str, u32)],
        tensors: &[(&str, &[u64], u32)],
    ) {
        write_with_vocabulary(path, arch, meta, tensors, 3);
    }

    /// As `write`, with a vocabulary of `tokens` entries.
    fn write_with_vocabulary(
        path: &Path,
        arch: &str,
        meta: &[(&str, u32)],
        tensors: &[(&str, &[u64], u32)],
        tokens: u64,
    ) {
        let mut out = Vec::new();
        let string = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s.as_bytes());
        };
        out.extend(b"GGUF");
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((meta.len() as u64 + 2).to_le_bytes());
        string(&mut out, "general.architecture");
        out.extend(8u32.to_le_bytes());
        string(&mut out, arch);
        string(&mut out, "tokenizer.ggml.tokens");
        out.extend(9u32.to_le_bytes());
        out.extend(8u32.to_le_bytes());
        out.extend(tokens.to_le_bytes());
        for t in 0..tokens {
            string(&mut out, &format!("t{t}"));
        }
        for (key, value) in meta {
            string(&mut out, &format!("{arch}.{key}"));
            out.extend(4u32.to_le_bytes());
            out.extend(value.to_le_bytes());
        }
        for (name, dims, kind) in tensors {
            string(&mut out, name);
            out.extend((dims.len() as u32).to_le_bytes());
            for d in dims.iter().rev() {
                out.extend(d.to_le_bytes());
            }
            out.extend(kind.to_le_bytes());
            out.extend(0u64.to_le_bytes());
        }
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn reads_metadata_and_the_tensor_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        write(
            &path,
            "llama",
            &[
                ("block_count", 2),
                ("embedding_length", 64),
                ("attention.head_count", 4),
                ("attention.head_count_kv", 2),
                ("feed_forward_length", 128),
                ("context_length", 2048),
            ],
            &[
                ("token_embd.weight", &[3, 64], 3),
                ("blk.0.attn_q.weight", &[64, 64], 12),
                ("output_norm.weight", &[64], 0),
            ],
        );
        let shape = read(&path).unwrap();
        assert_eq!(shape.architecture, "LlamaForCausalLM");
        assert_eq!(
            (shape.text.layers, shape.text.kv_heads, shape.text.vocab),
            (2, 2, 3)
        );
        assert!(shape.text.tie_word_embeddings);
        let q = shape
            .tensors
            .iter()
            .find(|t| t.name == "blk.0.attn_q.weight")
            .unwrap();
        // Q4_K: 4096 weights = 16 blocks of 144 bytes.
        assert_eq!(q.bytes, 16 * 144);
        let embed = &shape.tensors[0];
        assert_eq!(
            (embed.dims.clone(), embed.bytes),
            (vec![3, 64], 3 * 64 / 32 * 20)
        );
    }

    #[test]
    fn rejects_other_files_and_truncated_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gguf");
        std::fs::write(&path, b"PK\x03\x04 not a gguf").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("magic"));
        std::fs::write(&path, b"GGUF\x03\x00\x00\x00\x01").unwrap();
        assert!(read(&path).unwrap_err().to_string().contains("truncated"));
        // Cut inside the last string of the vocabulary, which is skipped, not read.
        write(&path, "llama", &[], &[]);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 1]).unwrap();
        assert_eq!(read(&path).unwrap_err().to_string(), "truncated header");
    }

    #[test]
    fn reads_a_header_longer_than_the_first_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.gguf");
        let meta = [
            ("block_count", 2),
            ("embedding_length", 64),
            ("attention.head_count", 4),
            ("feed_forward_length", 128),
            ("context_length", 2048),
        ];
        let tensors: &[(&str, &[u64], u32)] = &[("output.weight", &[20_000, 64], 0)];
        write_with_vocabulary(&path, "qwen2", &meta, tensors, 20_000);
        // A 1 KiB first read grows, four times each time, to fit the 0.3 MiB header.
        let shape = read_growing(&path, 1 << 10).unwrap();
        assert_eq!((shape.text.vocab, shape.tensors.len()), (20_000, 1));
        // A file cut short is truncated however far the reads grow.
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 8]).unwrap();
        assert_eq!(
            read_growing(&path, 1 << 10).unwrap_err().to_string(),
            "truncated header"
        );
    }

    /// Zero or absurd shape numbers are refused at the header: zero layers or
    /// heads would pass and then panic mistral.rs, huge ones overflow.
    #[test]
    fn zero_or_absurd_shape_numbers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (key, value) in [
            ("block_count", 0u32),
            ("attention.head_count", 0),
            ("attention.head_count_kv", 0),
            ("block_count", u32::MAX),
        ] {
            let path = dir.path().join("m.gguf");
            let mut meta: Vec<(&str, u32)> = vec![
                ("block_count", 1),
                ("embedding_length", 32),
                ("attention.head_count", 2),
                ("feed_forward_length", 64),
                ("context_length", 512),
            ];
            meta.retain(|(k, _)| *k != key);
            meta.push((key, value));
            write(&path, "llama", &meta, &[("token_embd.weight", &[3, 32], 8)]);
            let err = read(&path).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("not a model's"),
                "{key}: {err}"
            );
        }
    }
}
