//! Watch delivery: a watch resumed across failures must have seen every change once and
//! in order.
//!
//! The truth is the store's own history (one fresh watch from revision 0 at the end, on a
//! healthy replica): the resumed watch's events, as (revision, key), must be exactly that
//! sequence. Separately, every acknowledged write must be in it at the revision it was
//! acknowledged with.

use std::collections::BTreeMap;

/// A change as a watcher saw it.
pub type Seen = (u64, String);

/// Checks `seen` (a resumed watch's events, in arrival order) against `truth` (the
/// history, in revision order). Returns the number of events on success.
pub fn check_once_in_order(seen: &[Seen], truth: &[Seen]) -> Result<usize, String> {
    for (i, w) in seen.windows(2).enumerate() {
        if w[0].0 >= w[1].0 {
            return Err(format!(
                "event {} (revision {}, {}) came after revision {}: duplicate or out of order",
                i + 1,
                w[1].0,
                w[1].1,
                w[0].0
            ));
        }
    }
    for (i, (s, t)) in seen.iter().zip(truth).enumerate() {
        if s != t {
            return Err(format!(
                "event {i}: the watch saw {s:?} where the history has {t:?} (missed or invented an event)"
            ));
        }
    }
    if seen.len() != truth.len() {
        return Err(format!(
            "the watch saw {} events, the history has {}; first difference: {:?}",
            seen.len(),
            truth.len(),
            truth.get(seen.len()).or(seen.get(truth.len()))
        ));
    }
    Ok(seen.len())
}

/// Checks that every acknowledged write (key -> revisions acknowledged) is in `truth`.
pub fn check_acked_present(
    acked: &BTreeMap<String, Vec<u64>>,
    truth: &[Seen],
) -> Result<usize, String> {
    let by_rev: BTreeMap<u64, &str> = truth.iter().map(|(r, k)| (*r, k.as_str())).collect();
    let mut n = 0;
    for (key, revs) in acked {
        for rev in revs {
            match by_rev.get(rev) {
                Some(k) if k == key => n += 1,
                Some(k) => {
                    return Err(format!(
                        "write of {key} acknowledged at revision {rev}, which changed {k}"
                    ))
                }
                None => {
                    return Err(format!(
                        "write of {key} acknowledged at revision {rev} is not in the history (lost)"
                    ))
                }
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(r: u64, k: &str) -> Seen {
        (r, k.to_owned())
    }

    #[test]
    fn watch_cases() {
        let truth = vec![ev(1, "a"), ev(2, "b"), ev(3, "a")];
        let cases: Vec<(&str, Vec<Seen>, bool)> = vec![
            ("exact", truth.clone(), true),
            ("missed one", vec![ev(1, "a"), ev(3, "a")], false),
            (
                "duplicate",
                vec![ev(1, "a"), ev(2, "b"), ev(2, "b"), ev(3, "a")],
                false,
            ),
            ("reordered", vec![ev(2, "b"), ev(1, "a"), ev(3, "a")], false),
            ("stopped early", vec![ev(1, "a"), ev(2, "b")], false),
            ("invented", vec![ev(1, "a"), ev(2, "c"), ev(3, "a")], false),
        ];
        for (name, seen, want) in cases {
            assert_eq!(check_once_in_order(&seen, &truth).is_ok(), want, "{name}");
        }
    }

    #[test]
    fn acked_cases() {
        let truth = vec![ev(1, "a"), ev(2, "b")];
        let acked = |k: &str, r: u64| BTreeMap::from([(k.to_owned(), vec![r])]);
        assert_eq!(check_acked_present(&acked("a", 1), &truth), Ok(1));
        assert!(check_acked_present(&acked("a", 2), &truth).is_err());
        assert!(check_acked_present(&acked("c", 3), &truth).is_err());
    }
}
