//! The ground floor: sizes, percentages, precisions and compute capabilities.
//! Every layer above imports these; they import nothing of the crate.

mod capability;
mod precision;
mod size;

pub use capability::ComputeCapability;
pub use precision::{DType, KvCacheDtype, Quantization};
pub(crate) use size::parse_percent;
pub use size::{ByteSize, Percent, SizeError, parse_size};

/// A closed set whose manifest spelling is both its serde name and `name()`,
/// written once per variant.
macro_rules! spelled {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// The manifest's spelling, which mistral.rs's flags also take.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }
    };
}
pub(crate) use spelled;
