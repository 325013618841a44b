//! Checkers for the chaos scenarios (tests/tests/chaos.rs): pure functions over what a
//! scenario recorded, each unit-tested on small known-good and known-bad inputs.
//!
//! - [`linearizable`]: Wing & Gong / Lowe's WGL search for a key-value register model,
//!   decomposed per key, with memoisation of visited (linearized set, value) states.
//! - [`watch`]: a resumed watch saw every event once and in order.

pub mod linearizable;
pub mod watch;
