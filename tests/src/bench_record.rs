//! The benchmark record: every benchmark program hands each figure it reports to
//! [`record`], which appends it as one tab-separated line to the file named by
//! `$RUDDER_BENCH_RECORD`, and does nothing when that is unset (a benchmark run by hand
//! writes nowhere). `scripts/bench.sh` sets it to `docs/bench-record.tsv`, the record kept
//! in the repository, so a regression shows in review as a changed line; CI points it at
//! a scratch copy.
//!
//! Rules the record keeps:
//!
//! - Columns, in this order: [`HEADER`]. A missing or empty file gets the header first.
//! - `date` and the load average in `machine` are those at the start of the run when
//!   `$RUDDER_BENCH_DATE` and `$RUDDER_BENCH_LOAD1` carry them (bench.sh sets both once,
//!   so the lines of one run share them and a contended start shows); otherwise the time
//!   and load of the first figure this process records.
//! - `commit`: the repository's `HEAD`, `+dirty` when a tracked file other than the
//!   record itself differs from it.
//! - `machine`: the host class (cores, CPU model, memory, kernel) and `load1`.
//! - `figure`: `<benchmark>.<case>.<measure>`; the measure says which way is better:
//!   `throughput` (higher is better), `p50`/`p99`/`max` latencies, `time`, `rss`
//!   (lower is better). `unit` says what `value` and `baseline` count.
//! - `ratio` is `value / baseline`, the ratio the program prints; `baseline` and `ratio`
//!   are `-` for a figure with no baseline measured in the same run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The record file's header line (without its newline).
pub const HEADER: &str = "date\tcommit\tmachine\tfigure\tvalue\tbaseline\tratio\tunit";

/// The variable that names the record file.
pub const RECORD_ENV: &str = "RUDDER_BENCH_RECORD";

/// Appends one figure to the record named by `$RUDDER_BENCH_RECORD` (see the module
/// docs); a no-op when it is unset. A figure that cannot be written is reported on
/// stderr and does not stop the benchmark: `scripts/bench.sh` notices a program that
/// recorded nothing.
pub fn record(figure: &str, value: f64, baseline: Option<f64>, unit: &str) {
    let Some(path) = std::env::var_os(RECORD_ENV).map(PathBuf::from) else {
        return;
    };
    if let Err(e) = append(&path, &line(run(), figure, value, baseline, unit)) {
        eprintln!(
            "bench record: cannot append {figure} to {}: {e}",
            path.display()
        );
    }
}

/// What every line of one run shares.
struct Run {
    date: String,
    commit: String,
    machine: String,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| Run {
        date: std::env::var("RUDDER_BENCH_DATE")
            .unwrap_or_else(|_| rudder_protocol::resources::Time::now().to_string()),
        commit: commit(&crate::repo_root()),
        machine: machine(),
    })
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write per line: the header and the line land together or not at all.
    let mut text = String::new();
    if file.metadata()?.len() == 0 {
        text.push_str(HEADER);
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    file.write_all(text.as_bytes())
}

/// One record line (no newline). Tabs and newlines inside a field would break the
/// columns, so they become spaces.
fn line(run: &Run, figure: &str, value: f64, baseline: Option<f64>, unit: &str) -> String {
    let ratio = baseline.map(|b| value / b);
    [
        run.date.clone(),
        run.commit.clone(),
        run.machine.clone(),
        figure.to_owned(),
        number(Some(value)),
        number(baseline),
        ratio
            .filter(|r| r.is_finite())
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.3}")),
        unit.to_owned(),
    ]
    .map(|f| f.replace(['\t', '\n'], " "))
    .join("\t")
}

/// A figure with about four significant digits, `-` for none.
fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let digits = match v.abs() {
                a if a >= 1000.0 => 0,
                a if a >= 100.0 => 1,
                a if a >= 1.0 => 2,
                _ => 4,
            };
            format!("{v:.digits$}")
        }
        _ => "-".to_owned(),
    }
}

/// `git rev-parse --short=12 HEAD`, with `+dirty` when a tracked file other than the
/// record differs; `unknown` outside a git checkout.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)docs/bench-record.tsv",
    ])
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head}+dirty")
    } else {
        head
    }
}

/// The host class and the 1-minute load average, e.g.
/// `2 cores AMD EPYC 7B13, 23.4 GiB, Linux 6.1.0-28-cloud-amd64, load1 0.12`.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let meminfo = read("/proc/meminfo");
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let kernel = read("/proc/sys/kernel/osrelease");
    let load1 = std::env::var("RUDDER_BENCH_LOAD1").unwrap_or_else(|_| {
        read("/proc/loadavg")
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_owned()
    });
    format!(
        "{cores} cores {model}, {:.1} GiB, Linux {}, load1 {load1}",
        mem_kib / (1024.0 * 1024.0),
        kernel.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_run() -> Run {
        Run {
            date: "2026-12-07T10:00:00Z".into(),
            commit: "0123456789ab".into(),
            machine: "2 cores X, 1.0 GiB, Linux 6, load1 0.10".into(),
        }
    }

    #[test]
    fn lines_have_every_column() {
        let cases: &[(&str, f64, Option<f64>, &str, &str)] = &[
            (
                "throughput with a baseline",
                1234.56,
                Some(2469.12),
                "ops/s",
                "1235\t2469\t0.500\tops/s",
            ),
            (
                "latency in ms",
                2.5,
                Some(1.25),
                "ms",
                "2.50\t1.25\t2.000\tms",
            ),
            ("no baseline", 0.01234, None, "s", "0.0123\t-\t-\ts"),
            ("zero baseline", 3.0, Some(0.0), "x", "3.00\t0.0000\t-\tx"),
            ("not a number", f64::NAN, Some(1.0), "x", "-\t1.00\t-\tx"),
        ];
        for (name, value, baseline, unit, tail) in cases {
            let l = line(&sample_run(), "bench.case.measure", *value, *baseline, unit);
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), HEADER.split('\t').count(), "{name}: {l}");
            assert_eq!(cols[3], "bench.case.measure", "{name}");
            assert!(l.ends_with(tail), "{name}: {l:?} should end with {tail:?}");
        }
    }

    #[test]
    fn tabs_inside_a_field_do_not_make_columns() {
        let mut run = sample_run();
        run.machine = "a\tb\nc".into();
        let l = line(&run, "f", 1.0, None, "u");
        assert_eq!(l.split('\t').count(), HEADER.split('\t').count());
        assert!(l.contains("a b c"));
    }

    #[test]
    fn the_header_comes_first_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("record.tsv");
        append(&path, "one").expect("first append");
        append(&path, "two").expect("second append");
        let text = std::fs::read_to_string(&path).expect("read back");
        assert_eq!(text, format!("{HEADER}\none\ntwo\n"));
    }

    #[test]
    fn the_machine_names_cores_memory_kernel_and_load() {
        let m = machine();
        for part in ["cores", "GiB", "Linux", "load1"] {
            assert!(m.contains(part), "{m:?} lacks {part}");
        }
    }
}
