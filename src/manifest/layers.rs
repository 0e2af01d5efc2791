//! The figment providers for each layer, lowest precedence first:
//! built-in defaults < `extends` files < the manifest < `DEPLOYCTL_<TABLE>__<KEY>`
//! environment variables < `--set table.key=value` flags.
//!
//! Each provider carries metadata that names exactly one file, variable or flag,
//! so every resolved value can say where it came from.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};

use super::path::KeyPath;
use super::structure::Schema;
use crate::diagnostic::{Code, Diagnostic, Place};

/// Prefix of the environment variables that override manifest keys.
pub const ENV_PREFIX: &str = "DEPLOYCTL_";

/// Separator between table and key in an environment variable name.
pub(super) const ENV_SEPARATOR: &str = "__";

const DEFAULT_TAG: &str = "default";
const ENV_TAG: &str = "env";
const FLAG_TAG: &str = "flag";

/// What a layer is, read back from figment metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    Default,
    File(std::path::PathBuf),
    Env(String),
    Flag(String),
}

impl LayerKind {
    pub fn from_metadata(metadata: &Metadata) -> LayerKind {
        match &metadata.source {
            Some(Source::File(path)) => LayerKind::File(path.clone()),
            Some(Source::Custom(tag)) if tag == ENV_TAG => {
                LayerKind::Env(metadata.name.to_string())
            }
            Some(Source::Custom(tag)) if tag == FLAG_TAG => {
                LayerKind::Flag(metadata.name.to_string())
            }
            _ => LayerKind::Default,
        }
    }
}

/// Why a manifest file's layer could not be made.
#[derive(Debug, thiserror::Error)]
pub(super) enum ManifestTomlError {
    /// The text is not TOML: the parser's message, without its excerpt.
    #[error("{}", .0.message())]
    Syntax(toml::de::Error),
}

/// One layer: data and the metadata that names its origin.
pub(super) struct Layer {
    metadata: Metadata,
    data: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

impl Layer {
    /// The built-in defaults: every key that has a fixed default.
    pub(super) fn defaults() -> Layer {
        // The same for every manifest: serialized once per run.
        static DEFAULTS: std::sync::LazyLock<Dict> = std::sync::LazyLock::new(|| {
            Value::serialize(super::defaults::raw_defaults())
                .expect("defaults serialize")
                .into_dict()
                .unwrap_or_default()
        });
        Layer {
            metadata: Metadata::named("built-in default")
                .source(Source::Custom(DEFAULT_TAG.into())),
            data: DEFAULTS.clone(),
        }
    }

    /// A manifest file whose syntax is valid, without the keys in `invalid`.
    /// A file's layer, from its values as parsed (else from its text).
    pub(super) fn file(
        path: &std::path::Path,
        parsed: Option<Dict>,
        text: &str,
        invalid: &[KeyPath],
    ) -> Result<Layer, ManifestTomlError> {
        let mut data: Dict = match parsed {
            Some(data) => data,
            None => toml::from_str(text).map_err(ManifestTomlError::Syntax)?,
        };
        for key in invalid {
            remove(&mut data, key);
        }
        Ok(Layer {
            metadata: Metadata::named("manifest").source(Source::File(path.to_path_buf())),
            data,
        })
    }

    fn override_value(
        name: String,
        tag: &'static str,
        path: &KeyPath,
        value: toml::Value,
    ) -> Layer {
        let value = Value::serialize(value).expect("TOML values serialize");
        let nested = figment::util::nest(&path.dotted(), value);
        Layer {
            metadata: Metadata::named(name).source(Source::Custom(tag.into())),
            data: nested.into_dict().unwrap_or_default(),
        }
    }
}

/// The key an environment variable sets, if it is one of ours:
/// `DEPLOYCTL_DEVICES__EXPECT__COUNT` → `devices.expect.count`.
/// Variables without a `__` (such as a `DEPLOYCTL_API_KEY` that a manifest
/// references) are not overrides and are left alone.
pub(super) fn env_key(name: &str) -> Option<KeyPath> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    if !rest.contains(ENV_SEPARATOR) {
        return None;
    }
    Some(KeyPath::parse(
        &rest.to_ascii_lowercase().replace(ENV_SEPARATOR, "."),
    ))
}

/// The environment variable that sets `path`.
pub fn env_name(path: &KeyPath) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.dotted()
            .to_ascii_uppercase()
            .replace('.', ENV_SEPARATOR)
    )
}

/// Builds the layer for one environment variable or `--set` flag, checking its
/// key and value against the schema. Problems are reported at `place`.
pub(super) fn override_layer(
    schema: &Schema,
    path: &KeyPath,
    text: &str,
    place: Place,
    out: &mut Vec<Diagnostic>,
) -> Option<Layer> {
    // The format version and the file chain belong to the files: an override
    // of either would be merged and then ignored.
    if let Some(key @ ("version" | "extends")) = path
        .dotted()
        .split('.')
        .next()
        .map(str::to_owned)
        .as_deref()
    {
        out.push(
            Diagnostic::error(
                Code::InvalidValue,
                place,
                format!("`{key}` can only be set in a manifest file, not overridden"),
            )
            .help(match key {
                "version" => "write `version = 1` at the top of the manifest",
                _ => "list the files to extend in the manifest's own `extends`",
            }),
        );
        return None;
    }
    let value = typed_value(schema, path, text);
    let problems = schema.check_override(path, &value, text);
    if !problems.is_empty() {
        out.extend(problems.into_iter().map(|mut d| {
            d.place = place.clone();
            d.notes.clear();
            d
        }));
        return None;
    }
    let (name, tag) = match &place {
        Place::Env(name) => (name.clone(), ENV_TAG),
        Place::Flag(flag) => (flag.clone(), FLAG_TAG),
        _ => unreachable!("overrides come from the environment or a flag"),
    };
    Some(Layer::override_value(name, tag, path, value))
}

/// Reads an override as TOML (`9000`, `true`, `[0, 1]`), falling back to a plain
/// string, and keeps it a string where the key only takes strings, so that
/// `…MIN_COMPUTE_CAPABILITY=8.0` is the string "8.0", not a float.
fn typed_value(schema: &Schema, path: &KeyPath, text: &str) -> toml::Value {
    let parsed = toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"));
    match parsed {
        Some(toml::Value::String(s)) => toml::Value::String(s),
        Some(v) if !schema.accepts_only_strings(path) => v,
        _ => toml::Value::String(text.to_owned()),
    }
}

/// Why a `--set` flag is not `table.key=value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum SetFlagError {
    #[error("a `--set` flag needs the form `table.key=value`")]
    NoEquals,
    #[error("a `--set` flag needs a key: `table.key=value`")]
    NoKey,
}

/// Parses a `--set table.key=value` flag into its key and value text.
pub(super) fn parse_set_flag(flag: &str) -> Result<(KeyPath, &str), SetFlagError> {
    let (key, value) = flag.split_once('=').ok_or(SetFlagError::NoEquals)?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(SetFlagError::NoKey);
    }
    Ok((KeyPath::parse(key), value))
}

fn remove(table: &mut Dict, path: &KeyPath) {
    use super::path::Segment;
    let Some((Segment::Key(last), parents)) = path.segments().split_last() else {
        return;
    };
    let mut current = table;
    for segment in parents {
        let Segment::Key(key) = segment else { return };
        match current.get_mut(key) {
            Some(Value::Dict(_, next)) => current = next,
            _ => return,
        }
    }
    current.remove(last);
}
