//! Byte sizes and percentages as users write them: `"15GB"`, `"15 GiB"`, `"90%"`.

use std::fmt;

use byte_unit::Byte;
use serde::Serialize;

/// A number of bytes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn bytes(self) -> u64 {
        self.0
    }

    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    pub const fn gib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024 * 1024)
    }
}

impl fmt::Display for ByteSize {
    /// Exact where the size is a whole number of a binary unit, else two decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        let mut value = self.0 as f64;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if value.fract() == 0.0 {
            write!(f, "{value:.0} {}", UNITS[unit])
        } else {
            write!(f, "{value:.2} {}", UNITS[unit])
        }
    }
}

/// Why a size string was rejected; the message follows the string as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("is empty")]
    Empty,
    #[error("is negative")]
    Negative,
    #[error("is too large")]
    Overflow,
    /// A number without a unit (bytes) that is not whole.
    #[error("is a fraction of a byte: a size without a unit counts bytes")]
    FractionalBytes,
    /// Several sizes in one string; holds each of them.
    #[error("holds {} sizes in one string", .0.len())]
    Several(Vec<String>),
    #[error("is not a size")]
    Malformed,
}

/// Parses `"15GB"`, `"15 GiB"`, `"512mib"`, `"1.5TB"`, `"1024"` (bytes).
/// Units are case-insensitive; `b` always means bytes, never bits.
pub fn parse_size(text: &str) -> Result<ByteSize, SizeError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SizeError::Empty);
    }
    // Words that are only a unit belong to the number before them: "15 GiB 20 GiB"
    // is two sizes, "15GB 15GB 15GB" three.
    let mut sizes: Vec<String> = Vec::new();
    for word in trimmed.split(|c: char| c == ',' || c == ';' || c.is_whitespace()) {
        if word.is_empty() {
            continue;
        }
        match sizes.last_mut() {
            Some(last)
                if word.chars().all(|c| c.is_ascii_alphabetic())
                    && last.ends_with(|c: char| c.is_ascii_digit()) =>
            {
                last.push(' ');
                last.push_str(word);
            }
            _ => sizes.push(word.to_owned()),
        }
    }
    if sizes.len() > 1 {
        return Err(SizeError::Several(sizes));
    }
    let unitless = trimmed.chars().all(|c| c.is_ascii_digit() || c == '.');
    if unitless && trimmed.contains('.') {
        return Err(SizeError::FractionalBytes);
    }
    if trimmed.starts_with('-') {
        return Err(SizeError::Negative);
    }
    if !trimmed.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(SizeError::Malformed);
    }
    match Byte::parse_str(trimmed, true) {
        Ok(byte) => u64::try_from(byte.as_u128())
            .map(ByteSize)
            .map_err(|_| SizeError::Overflow),
        Err(byte_unit::ParseError::Value(byte_unit::ValueParseError::ExceededBounds(_))) => {
            Err(SizeError::Overflow)
        }
        Err(_) => Err(SizeError::Malformed),
    }
}

/// A share of a GPU's memory, in hundredths of a percent so it stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u32);

impl Percent {
    /// The share of `total`, rounded down.
    pub fn of(self, total: ByteSize) -> ByteSize {
        ByteSize((u128::from(total.0) * u128::from(self.0) / 10_000) as u64)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 100 == 0 {
            write!(f, "{}%", self.0 / 100)
        } else {
            let text = format!("{}.{:02}", self.0 / 100, self.0 % 100);
            write!(f, "{}%", text.trim_end_matches('0'))
        }
    }
}

/// Why a percentage string was rejected; `text` is the string as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PercentError {
    #[error("`{text}` is not a percentage")]
    Malformed { text: String },
    #[error("`{text}` has more than two decimals")]
    Decimals { text: String },
    /// The whole part does not fit a `u32`.
    #[error("`{text}` is out of range")]
    Overflow { text: String },
    #[error("`{text}` is outside 1%..100%")]
    OutOfBounds { text: String },
}

/// Parses `"90%"` or `"92.5%"`; accepts 1% to 100% with up to two decimals.
/// Returns `None` when the text has no `%` at all (it is not meant as a share).
pub(crate) fn parse_percent(text: &str) -> Option<Result<Percent, PercentError>> {
    let number = text.trim().strip_suffix('%')?.trim();
    let text = || text.to_owned();
    let parsed = (|| {
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() || !whole.chars().all(|c| c.is_ascii_digit()) {
            return Err(PercentError::Malformed { text: text() });
        }
        if frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(PercentError::Decimals { text: text() });
        }
        let whole: u32 = whole
            .parse()
            .map_err(|_| PercentError::Overflow { text: text() })?;
        let frac: u32 = format!("{frac:0<2}").parse().unwrap_or(0);
        let basis = whole.checked_mul(100).and_then(|w| w.checked_add(frac));
        match basis {
            Some(b) if (100..=10_000).contains(&b) => Ok(Percent(b)),
            _ => Err(PercentError::OutOfBounds { text: text() }),
        }
    })();
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_si_and_iec_units_in_any_case() {
        assert_eq!(parse_size("15GB"), Ok(ByteSize(15_000_000_000)));
        assert_eq!(parse_size("15 GiB"), Ok(ByteSize::gib(15)));
        assert_eq!(parse_size("512mib"), Ok(ByteSize::mib(512)));
        assert_eq!(parse_size("1.5TB"), Ok(ByteSize(1_500_000_000_000)));
        assert_eq!(parse_size("1024"), Ok(ByteSize(1024)));
        assert_eq!(parse_size("24gb"), Ok(ByteSize(24_000_000_000)));
    }

    #[test]
    fn rejects_lists_negatives_overflow_and_junk() {
        assert_eq!(
            parse_size("15GB 15GB 15GB 15GB"),
            Err(SizeError::Several(vec!["15GB".into(); 4]))
        );
        assert_eq!(
            parse_size("15GB,20GB"),
            Err(SizeError::Several(vec!["15GB".into(), "20GB".into()]))
        );
        assert_eq!(
            parse_size("15 GiB 20 GiB"),
            Err(SizeError::Several(vec!["15 GiB".into(), "20 GiB".into()]))
        );
        assert_eq!(parse_size("0.5"), Err(SizeError::FractionalBytes));
        assert_eq!(parse_size("-1GB"), Err(SizeError::Negative));
        assert_eq!(parse_size("99999999999EB"), Err(SizeError::Overflow));
        assert_eq!(parse_size("lots"), Err(SizeError::Malformed));
        assert_eq!(parse_size("15 parsecs"), Err(SizeError::Malformed));
        assert_eq!(parse_size(""), Err(SizeError::Empty));
    }

    #[test]
    fn parses_percentages_between_one_and_a_hundred() {
        let p = parse_percent("90%").unwrap().unwrap();
        assert_eq!(p.of(ByteSize(1000)), ByteSize(900));
        assert_eq!(
            parse_percent("92.5%").unwrap().unwrap().to_string(),
            "92.5%"
        );
        assert!(parse_percent("0%").unwrap().is_err());
        assert!(parse_percent("101%").unwrap().is_err());
        assert!(parse_percent("ninety%").unwrap().is_err());
        assert!(parse_percent("15GB").is_none());
    }

    #[test]
    fn displays_binary_units() {
        assert_eq!(ByteSize::gib(15).to_string(), "15 GiB");
        assert_eq!(ByteSize(15_000_000_000).to_string(), "13.97 GiB");
        assert_eq!(ByteSize(512).to_string(), "512 B");
    }
}
