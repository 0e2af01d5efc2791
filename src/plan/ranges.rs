//! Layer lists as ranges: `[start, end]` runs for the JSON, `3, 5-9` for people.

use crate::units::Quantization;

/// `["0-17", "20"]`: layer ranges as people write them.
pub fn range_texts(runs: &[[u64; 2]]) -> Vec<String> {
    runs.iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect()
}

/// Contiguous runs of sorted layers, as `[start, end]` pairs.
pub(super) fn runs(layers: &[u64]) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for l in layers {
        match out.last_mut() {
            Some(run) if run[1] + 1 == *l => run[1] = *l,
            _ => out.push([*l, *l]),
        }
    }
    out
}

/// Per-layer overrides grouped into runs of one quantization.
pub(super) fn group_overrides(overrides: &[(u64, Quantization)]) -> Vec<([u64; 2], Quantization)> {
    let mut out: Vec<([u64; 2], Quantization)> = Vec::new();
    for (l, q) in overrides {
        match out.last_mut() {
            Some((run, rq)) if run[1] + 1 == *l && rq == q => run[1] = *l,
            _ => out.push(([*l, *l], *q)),
        }
    }
    out
}

/// `3, 5-9, 12`.
pub(super) fn ranges_text(layers: &[u64]) -> String {
    let noun = if layers.len() == 1 { "layer" } else { "layers" };
    format!("{noun} {}", range_texts(&runs(layers)).join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_layer_lists_as_ranges() {
        assert_eq!(ranges_text(&[3]), "layer 3");
        assert_eq!(ranges_text(&[3, 5, 6, 7, 9]), "layers 3, 5-7, 9");
    }
}
