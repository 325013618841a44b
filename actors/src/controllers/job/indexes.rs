//! Completion indexes as Kubernetes writes them in `status.completedIndexes`,
//! `status.failedIndexes` and `successPolicy.rules[*].succeededIndexes`: ascending
//! decimal numbers separated by commas, a run of three or more as `first-last` (`1,3-5,7`;
//! two neighbours stay `1,2`).

use std::collections::BTreeSet;

/// `indexes` as an interval list.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut out = String::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&first.to_string());
        if last == first + 1 {
            out.push(',');
            out.push_str(&last.to_string());
        } else if last > first {
            out.push('-');
            out.push_str(&last.to_string());
        }
    }
    out
}

/// A strict parse, as validation reads `succeededIndexes`: intervals ascending, not
/// overlapping, each index below `completions`.
pub fn parse(s: &str, completions: i32) -> Result<BTreeSet<i32>, String> {
    let mut out = BTreeSet::new();
    let mut previous: Option<i32> = None;
    for part in s.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if last < first {
            return Err(format!(
                "{part}: the end of the interval is before its start"
            ));
        }
        if last >= completions {
            return Err(format!("{part}: too large (completions is {completions})"));
        }
        if previous.is_some_and(|p| first <= p) {
            return Err(format!("{part}: intervals must be ascending and disjoint"));
        }
        previous = Some(last);
        out.extend(first..=last);
    }
    Ok(out)
}

/// A lenient parse, as the controller reads its own status: malformed parts and
/// indexes at or above `completions` are left out.
pub fn parse_lenient(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let range = match part.split_once('-') {
            Some((a, b)) => number(a).and_then(|a| number(b).map(|b| (a, b))),
            None => number(part).map(|n| (n, n)),
        };
        if let Ok((first, last)) = range {
            out.extend(first.max(0)..=last.min(completions - 1));
        }
    }
    out
}

fn number(s: &str) -> Result<i32, String> {
    s.trim()
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{s:?} is not an index"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_lists_round_trip() {
        let table: &[(&str, &[i32], &str)] = &[
            ("empty", &[], ""),
            ("one", &[4], "4"),
            ("two neighbours stay apart", &[1, 2], "1,2"),
            ("three make a run", &[1, 2, 3], "1-3"),
            ("the documented example", &[1, 3, 4, 5, 7], "1,3-5,7"),
            ("runs and singles", &[0, 1, 2, 3, 5, 6, 9], "0-3,5,6,9"),
        ];
        for (name, set, text) in table {
            let set: BTreeSet<i32> = set.iter().copied().collect();
            assert_eq!(format(&set), *text, "{name}");
            assert_eq!(parse_lenient(text, 100), set, "{name}: lenient");
            if !text.is_empty() {
                assert_eq!(parse(text, 100), Ok(set), "{name}: strict");
            }
        }
    }

    #[test]
    fn strict_parsing_refuses_what_kubernetes_refuses() {
        for (name, text) in [
            ("out of range", "1,10"),
            ("descending", "3,1"),
            ("overlapping", "1-3,2"),
            ("reversed interval", "3-1"),
            ("not a number", "a"),
            ("negative", "-1"),
            ("empty part", "1,,2"),
        ] {
            assert!(parse(text, 10).is_err(), "{name}");
        }
        assert_eq!(
            parse_lenient("1,3-12,x", 5),
            [1, 3, 4].into_iter().collect(),
            "lenient: clipped, junk skipped"
        );
    }
}
