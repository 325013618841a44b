//! `rudderctl traces`: the slowest recent API requests of every node, and one request's
//! trace through every node that served a part of it.
//!
//! Each node's `bus` answers for the spans it recorded (`BusRequest::SlowestTraces`,
//! `BusRequest::Trace`). A trace is gathered from every live member, then the Raft log
//! indexes its commit spans name are asked of every member again, to show when each
//! replica appended the write to its log and applied it (see
//! `rudder_actors::telemetry::trace`).

use anyhow::{bail, Context as _};
use rudder_protocol::client::Client;
use rudder_protocol::messages::bus::{BusReply, BusRequest, MemberState};
use rudder_protocol::trace::{parse_trace_id, trace_hex, RaftRecord, SpanRecord};
use rudder_protocol::{ActorRef, NodeName};
use serde_json::{json, Value};

/// The live members (the nodes that can answer).
async fn live_nodes(client: &Client) -> anyhow::Result<Vec<NodeName>> {
    let here = client.node().clone();
    Ok(client
        .members_seen_by(&here)
        .await?
        .into_iter()
        .filter(|m| m.state == MemberState::Alive)
        .map(|m| m.name)
        .collect())
}

async fn ask(client: &Client, node: &NodeName, req: BusRequest) -> anyhow::Result<BusReply> {
    let to = ActorRef::new(node.clone(), rudder_protocol::names::actors::BUS);
    Ok(client.call(to, req).await?)
}

/// The slowest recent root spans of the whole cluster, slowest first.
pub async fn slowest(client: &Client, limit: u32) -> anyhow::Result<Vec<SpanRecord>> {
    let mut all = Vec::new();
    for node in live_nodes(client).await? {
        match ask(client, &node, BusRequest::SlowestTraces { limit }).await {
            Ok(BusReply::Spans(spans)) => all.extend(spans),
            Ok(other) => bail!("unexpected reply from {node}: {other:?}"),
            Err(e) => eprintln!("rudderctl: node {node}: {e}"),
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.duration_micros));
    all.truncate(limit as usize);
    Ok(all)
}

/// Every span of `trace_id` on every live node, and each replica's append and apply of
/// the log indexes its commits name.
pub async fn gather(
    client: &Client,
    trace_id: u128,
) -> anyhow::Result<(Vec<SpanRecord>, Vec<RaftRecord>)> {
    let nodes = live_nodes(client).await?;
    let mut spans = Vec::new();
    for node in &nodes {
        let req = BusRequest::Trace {
            trace_id,
            indexes: Vec::new(),
        };
        match ask(client, node, req).await {
            Ok(BusReply::Trace { spans: s, .. }) => spans.extend(s),
            Ok(other) => bail!("unexpected reply from {node}: {other:?}"),
            Err(e) => eprintln!("rudderctl: node {node}: {e}"),
        }
    }
    let mut indexes: Vec<u64> = spans.iter().filter_map(|s| s.raft_index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let mut raft = Vec::new();
    if !indexes.is_empty() {
        for node in &nodes {
            let req = BusRequest::Trace {
                trace_id,
                indexes: indexes.clone(),
            };
            if let Ok(BusReply::Trace { raft: r, .. }) = ask(client, node, req).await {
                raft.extend(r);
            }
        }
    }
    spans.sort_by_key(|s| s.start_micros);
    raft.sort_by_key(|r| (r.index, r.start_micros));
    Ok((spans, raft))
}

fn millis(micros: u64) -> String {
    format!("{:.3}ms", micros as f64 / 1000.0)
}

fn span_json(s: &SpanRecord) -> Value {
    json!({
        "traceId": trace_hex(s.trace_id),
        "spanId": format!("{:016x}", s.span_id),
        "parentId": (s.parent_id != 0).then(|| format!("{:016x}", s.parent_id)),
        "node": s.node,
        "name": s.name,
        "detail": s.detail,
        "startMicros": s.start_micros,
        "durationMicros": s.duration_micros,
        "raftIndex": s.raft_index,
    })
}

/// `rudderctl traces`: the slowest recent requests.
pub async fn list(client: &Client, limit: u32, json_out: bool) -> anyhow::Result<()> {
    let roots = slowest(client, limit).await?;
    if json_out {
        let items: Vec<Value> = roots.iter().map(span_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "traces": items }))?
        );
        return Ok(());
    }
    println!(
        "{:<32}  {:<12}  {:>11}  {:<5}  REQUEST",
        "TRACE", "NODE", "DURATION", "CODE"
    );
    for s in &roots {
        println!(
            "{:<32}  {:<12}  {:>11}  {:<5}  {}",
            trace_hex(s.trace_id),
            s.node,
            millis(s.duration_micros),
            s.detail,
            s.name
        );
    }
    Ok(())
}

/// `rudderctl traces ID`: one trace as a tree, each span with its node, its start after
/// the root's and its duration; under a commit, each replica's append and apply of its
/// index, in the order they started.
pub async fn show(client: &Client, id: &str, json_out: bool) -> anyhow::Result<()> {
    let trace_id =
        parse_trace_id(id).with_context(|| format!("{id:?} is not a trace id (32 hex digits)"))?;
    let (spans, raft) = gather(client, trace_id).await?;
    if spans.is_empty() {
        bail!("no node remembers trace {id} (nodes keep their most recent spans only)");
    }
    if json_out {
        let raft: Vec<Value> = raft
            .iter()
            .map(|a| {
                json!({
                    "node": a.node,
                    "step": a.step.as_str(),
                    "index": a.index,
                    "startMicros": a.start_micros,
                    "durationMicros": a.duration_micros,
                })
            })
            .collect();
        let items: Vec<Value> = spans.iter().map(span_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "spans": items, "raft": raft }))?
        );
        return Ok(());
    }
    let origin = spans
        .iter()
        .map(|s| s.start_micros)
        .min()
        .unwrap_or_default();
    let offset = |start: u64| millis(start.saturating_sub(origin));
    // Depth-first from the roots (a span whose parent no node remembers counts as one).
    let known: std::collections::HashSet<u64> = spans.iter().map(|s| s.span_id).collect();
    let mut stack: Vec<(&SpanRecord, usize)> = spans
        .iter()
        .filter(|s| s.parent_id == 0 || !known.contains(&s.parent_id))
        .rev()
        .map(|s| (s, 0))
        .collect();
    println!("trace {}", trace_hex(trace_id));
    while let Some((s, depth)) = stack.pop() {
        let pad = "  ".repeat(depth);
        println!(
            "{pad}{}  [{}]  +{}  {}  {}",
            s.name,
            s.node,
            offset(s.start_micros),
            millis(s.duration_micros),
            s.detail
        );
        if let Some(index) = s.raft_index {
            for a in raft.iter().filter(|a| a.index == index) {
                println!(
                    "{pad}  raft {} {index}  [{}]  +{}  {}",
                    a.step.as_str(),
                    a.node,
                    offset(a.start_micros),
                    millis(a.duration_micros)
                );
            }
        }
        for child in spans.iter().rev().filter(|c| c.parent_id == s.span_id) {
            stack.push((child, depth + 1));
        }
    }
    Ok(())
}
