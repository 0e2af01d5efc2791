//! Reviewing a change to deployments: what each manifest plans at two
//! revisions, and what changed between them. Pure: the application layer
//! loads and plans both sides, and the command prints the result.

mod compare;
mod side;

pub use compare::{Change, DeviceChange, Status, Totals, compare, totals};
pub use side::{DeviceRow, FindingRow, Side};
