//! Tests of the pod worker.

