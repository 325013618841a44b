//! ConfigMaps and Secrets: their data's keys and size, and the `immutable` rule.

use super::names::is_config_map_key;
use super::{FieldCause, FieldPath};

/// The most a ConfigMap's or Secret's data may hold, in bytes of keys and values
/// (Kubernetes' `MaxSecretSize`, 1 MiB).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// The keys of one data map (under `path`, as `(key, value length)`) checked as
/// config keys, each not already in `seen` (the keys of an earlier map of the same
/// object: a ConfigMap's `data` for its `binaryData`). Returns the causes and adds the
/// map's keys and sizes to `seen` and `size`.
pub fn validate_data_keys<'a>(
    path: &FieldPath,
    entries: impl IntoIterator<Item = (&'a str, usize)>,
    seen: &mut Vec<&'a str>,
    size: &mut usize,
) -> Vec<FieldCause> {
    let mut errs = Vec::new();
    for (key, len) in entries {
        for message in is_config_map_key(key) {
            errs.push(FieldCause::invalid(&path.key(key), key, &message));
        }
        if seen.contains(&key) {
            errs.push(FieldCause::invalid(
                &path.key(key),
                key,
                "duplicate of key present in data",
            ));
        }
        seen.push(key);
        *size += key.len() + len;
    }
    errs
}

/// What the `immutable` rule forbids when an object that was immutable is updated:
/// making it mutable again, and changing any of `fields` (`(name, changed)`).
pub fn validate_immutable(
    old: Option<bool>,
    new: Option<bool>,
    fields: &[(&str, bool)],
) -> Vec<FieldCause> {
    const DETAIL: &str = "field is immutable when `immutable` is set";
    if old != Some(true) {
        return Vec::new();
    }
    let mut errs = Vec::new();
    if new != Some(true) {
        errs.push(FieldCause::forbidden(&FieldPath::new("immutable"), DETAIL));
    }
    for (name, changed) in fields {
        if *changed {
            errs.push(FieldCause::forbidden(&FieldPath::new(name), DETAIL));
        }
    }
    errs
}
