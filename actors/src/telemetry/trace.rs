//! Traces across the bus: one API request, followed through every node that serves a
//! part of it.
//!
//! - A **root span** starts where a request enters (the API server's HTTP front, see
//!   [`Span::root`]); its context is the task's current one ([`Span::run`]), so every
//!   bus request made while serving it carries it in its frame ([`current`], read by
//!   [`crate::bus::Bus::request`]).
//! - The node that serves such a request records a **child span** around the actor's
//!   handling ([`crate::bus`]'s delivery) and hands the actor the child's context, which
//!   the API server and the store run their work under: a write forwarded from a
//!   follower's store to the leader's is one more child, and so on.
//! - Raft replicates and applies on openraft's own tasks, not the request's: the leader's
//!   commit span names the log index its entry got ([`SpanRecord::raft_index`]) and
//!   each replica remembers when it appended each index to its log and when it applied
//!   it ([`raft_step`]); a reader joins those into the trace by index (`rudderctl traces
//!   ID`), which shows where a commit's milliseconds go: the leader's synced append, the
//!   followers' (starting when the entries reached them), and each apply.
//!
//! Every node keeps its most recent spans, roots and Raft steps in bounded rings (a few
//! thousand each, about two megabytes), answered by its `bus` actor
//! ([`rudder_protocol::messages::bus::BusRequest::SlowestTraces`] and `Trace`). Spans
//! are also `tracing` events at debug level (target `rudder_trace`), so a log collector
//! sees them too. Nothing is recorded while metrics are off (`[metrics] enabled`).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rudder_protocol::trace::{RaftRecord, RaftStep, SpanRecord, TraceContext};

/// Spans kept per process.
const SPANS_KEPT: usize = 4096;
/// Root spans kept per process (what "slowest recent" chooses from).
const ROOTS_KEPT: usize = 512;
/// Raft steps (appends and applies of log indexes) kept per process.
const RAFT_KEPT: usize = 8192;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// The trace context of the running task, if it serves a traced request.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| *c).ok()
}

#[derive(Default)]
struct Rings {
    spans: VecDeque<SpanRecord>,
    roots: VecDeque<SpanRecord>,
    raft: VecDeque<RaftRecord>,
}

static RINGS: Mutex<Rings> = Mutex::new(Rings {
    spans: VecDeque::new(),
    roots: VecDeque::new(),
    raft: VecDeque::new(),
});

fn rings() -> std::sync::MutexGuard<'static, Rings> {
    RINGS.lock().unwrap_or_else(|p| p.into_inner())
}

fn push<T>(ring: &mut VecDeque<T>, item: T, cap: usize) {
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(item);
}

fn unix_micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

fn nonzero_u64() -> u64 {
    loop {
        let id: u64 = rand::random();
        if id != 0 {
            return id;
        }
    }
}

/// One span being timed; recorded by [`Span::finish`].
#[derive(Debug)]
pub struct Span {
    ctx: TraceContext,
    parent: u64,
    node: String,
    name: String,
    detail: String,
    raft_index: Option<u64>,
    start: SystemTime,
    started: Instant,
}

impl Span {
    /// A new trace's root span on `node`, or `None` when tracing is off.
    pub fn root(node: &str, name: impl Into<String>) -> Option<Span> {
        if !super::enabled() {
            return None;
        }
        let trace_id = (u128::from(nonzero_u64()) << 64) | u128::from(rand::random::<u64>());
        let parent = TraceContext {
            trace_id,
            span_id: 0,
        };
        Some(Span::child_of(parent, node, name))
    }

    /// A span on `node` serving `parent`'s span.
    pub fn child_of(parent: TraceContext, node: &str, name: impl Into<String>) -> Span {
        Span {
            ctx: TraceContext {
                trace_id: parent.trace_id,
                span_id: nonzero_u64(),
            },
            parent: parent.span_id,
            node: node.to_owned(),
            name: name.into(),
            detail: String::new(),
            raft_index: None,
            start: SystemTime::now(),
            started: Instant::now(),
        }
    }

    /// The context requests made on this span's behalf carry.
    pub fn context(&self) -> TraceContext {
        self.ctx
    }

    /// Sets the outcome or other detail shown with the span.
    pub fn set_detail(&mut self, detail: impl Into<String>) {
        self.detail = detail.into();
    }

    /// Names the Raft log index this span's write committed at.
    pub fn set_raft_index(&mut self, index: u64) {
        self.raft_index = Some(index);
    }

    /// Runs `fut` with this span as the task's current context.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        CURRENT.scope(self.ctx, fut).await
    }

    /// Records the span.
    pub fn finish(self) {
        let record = SpanRecord {
            trace_id: self.ctx.trace_id,
            span_id: self.ctx.span_id,
            parent_id: self.parent,
            node: self.node,
            name: self.name,
            detail: self.detail,
            start_micros: unix_micros(self.start),
            duration_micros: self.started.elapsed().as_micros() as u64,
            raft_index: self.raft_index,
        };
        tracing::debug!(
            target: "rudder_trace",
            trace = %rudder_protocol::trace::trace_hex(record.trace_id),
            span = record.span_id,
            parent = record.parent_id,
            node = %record.node,
            name = %record.name,
            detail = %record.detail,
            micros = record.duration_micros,
            "span"
        );
        let mut rings = rings();
        if record.parent_id == 0 {
            push(&mut rings.roots, record.clone(), ROOTS_KEPT);
        }
        push(&mut rings.spans, record, SPANS_KEPT);
    }
}

/// Runs `fut` with `context` as the task's current trace context (as it is when `None`).
pub async fn within<F: Future>(context: Option<TraceContext>, fut: F) -> F::Output {
    match context {
        Some(c) => CURRENT.scope(c, fut).await,
        None => fut.await,
    }
}

/// Runs `fut` as a child span of `parent` on `node` (untraced when `parent` is `None`).
pub async fn child<F: Future>(
    parent: Option<TraceContext>,
    node: &str,
    name: impl FnOnce() -> String,
    fut: F,
) -> F::Output {
    match parent {
        None => fut.await,
        Some(parent) => {
            let span = Span::child_of(parent, node, name());
            let out = span.run(fut).await;
            span.finish();
            out
        }
    }
}

/// Remembers that `node`'s replica took `step` for log `indexes` in one batch, starting
/// at `start` and taking `took`.
pub fn raft_step(
    node: &str,
    step: RaftStep,
    indexes: &[u64],
    start: SystemTime,
    took: std::time::Duration,
) {
    if !super::enabled() || indexes.is_empty() {
        return;
    }
    let (start_micros, duration_micros) = (unix_micros(start), took.as_micros() as u64);
    let mut rings = rings();
    for &index in indexes {
        let record = RaftRecord {
            node: node.to_owned(),
            step,
            index,
            start_micros,
            duration_micros,
        };
        push(&mut rings.raft, record, RAFT_KEPT);
    }
}

/// The slowest of `node`'s recent root spans, slowest first, at most `limit`.
pub fn slowest(node: &str, limit: usize) -> Vec<SpanRecord> {
    let mut roots: Vec<SpanRecord> = rings()
        .roots
        .iter()
        .filter(|s| s.node == node)
        .cloned()
        .collect();
    roots.sort_by_key(|s| std::cmp::Reverse(s.duration_micros));
    roots.truncate(limit);
    roots
}

/// `node`'s spans of trace `trace_id`, and its Raft steps for `indexes`.
pub fn of_trace(node: &str, trace_id: u128, indexes: &[u64]) -> (Vec<SpanRecord>, Vec<RaftRecord>) {
    let rings = rings();
    let spans = rings
        .spans
        .iter()
        .filter(|s| s.trace_id == trace_id && s.node == node)
        .cloned()
        .collect();
    let raft = rings
        .raft
        .iter()
        .filter(|a| a.node == node && indexes.contains(&a.index))
        .cloned()
        .collect();
    (spans, raft)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn children_record_their_parent_and_requests_see_the_current_context() {
        let root = Span::child_of(
            TraceContext {
                trace_id: 77,
                span_id: 0,
            },
            "trace-test-a",
            "root",
        );
        assert_eq!(current(), None);
        let seen = root
            .run(async {
                let inner = current().unwrap();
                child(Some(inner), "trace-test-b", || "store Txn".into(), async {
                    current().unwrap()
                })
                .await
            })
            .await;
        assert_eq!(seen.trace_id, 77);
        assert_ne!(seen.span_id, root.context().span_id);
        let root_id = root.context().span_id;
        root.finish();
        let (spans, _) = of_trace("trace-test-b", 77, &[]);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].parent_id, root_id);
        assert_eq!(spans[0].name, "store Txn");
        let roots = slowest("trace-test-a", 10);
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].span_id, root_id);
        // Untraced work records nothing.
        child(None, "trace-test-c", || unreachable!(), async {}).await;
        assert!(of_trace("trace-test-c", 77, &[]).0.is_empty());
    }

    #[test]
    fn rings_are_bounded() {
        let mut ring = VecDeque::new();
        for i in 0..10 {
            push(&mut ring, i, 3);
        }
        assert_eq!(ring, VecDeque::from(vec![7, 8, 9]));
    }
}
