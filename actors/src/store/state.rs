//! The state machine (being written).
