//! Typed plan records serialized as the text people read: the JSON keeps the
//! sentences `plan` prints, while code matches on the types.

use std::fmt::Display;

use serde::Serializer;

pub(super) fn display<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// `None` as the empty string.
pub(super) fn display_or_empty<T: Display, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_str(""),
    }
}

pub(super) fn displays<T: Display, S: Serializer>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(ToString::to_string))
}
