//! x
mod quantity;
pub use quantity::*;
