// The Rudder dashboard. One live connection, /dashboard/api/stream (Server-Sent
// Events): `reset` starts a fresh view, `watch` carries the API's watch events for the
// objects shown, `cluster` a snapshot of the nodes' actors and the Raft group every
// second, `denied` a watch the caller may not open. The chaos buttons POST to
// /dashboard/api/{kill,partition,heal} after a confirmation. Rows are updated in place
// (keyed), so a button under the pointer stays the same element between updates.
'use strict';

const WATCHED = ['nodes', 'pods', 'deployments', 'statefulsets', 'daemonsets', 'events'];
const MAX_ROWS = 500;
const MAX_EVENTS = 60;

const view = {
  objects: Object.fromEntries(WATCHED.map((r) => [r, new Map()])),
  cluster: null,
  previous: new Map(), // "node/actor" -> {messages, time}
  rates: new Map(), // "node/actor" -> messages per second
  pending: false,
};

const $ = (selector) => document.querySelector(selector);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

// Puts one row per item in `tbody`, in order, reusing the rows of known keys.
function syncRows(tbody, items, keyOf, fill) {
  const rows = tbody.rows_ || (tbody.rows_ = new Map());
  const keep = new Set();
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    keep.add(key);
    let tr = rows.get(key);
    if (!tr) {
      tr = document.createElement('tr');
      rows.set(key, tr);
    }
    fill(tr, item);
    const want = previous ? previous.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    previous = tr;
  }
  for (const [key, tr] of rows) {
    if (!keep.has(key)) {
      tr.remove();
      rows.delete(key);
    }
  }
}

// Sets a row's cells: each value is text, or [text, className], or a Node.
function setCells(tr, values) {
  while (tr.cells.length < values.length) tr.insertCell();
  values.forEach((v, i) => {
    const td = tr.cells[i];
    if (v instanceof Node) {
      if (td.firstChild !== v) td.replaceChildren(v);
      return;
    }
    const [text, cls] = Array.isArray(v) ? v : [v, ''];
    const s = text === undefined || text === null ? '' : String(text);
    if (td.textContent !== s) td.textContent = s;
    if (td.className !== cls) td.className = cls;
  });
}

function age(timestamp) {
  if (!timestamp) return '';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function uptime(ms) {
  return ms ? age(new Date(Date.now() - ms).toISOString()) : '';
}

function log(text) {
  const li = el('li', { textContent: `${new Date().toLocaleTimeString()} ${text}` });
  $('#log').prepend(li);
  while ($('#log').children.length > 20) $('#log').lastChild.remove();
}

// ---- confirmation and chaos actions ----

function confirmThen(text, action) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-yes').onclick = () => {
    dialog.close();
    action();
  };
  $('#confirm-no').onclick = () => dialog.close();
  dialog.showModal();
}

async function post(path, body) {
  const r = await fetch(`/dashboard/api/${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Rudder-Dashboard': '1' },
    body: JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(answer.message || `${r.status} ${r.statusText}`);
  return answer;
}

function kill(node, actor) {
  confirmThen(`Kill actor ${actor} on node ${node}? Its supervisor restarts it.`, async () => {
    try {
      const a = await post('kill', { node, actor });
      log(`killed ${actor} on ${node} (restarts before: ${a.restartsBefore})`);
    } catch (e) {
      log(`kill ${actor} on ${node} failed: ${e.message}`);
    }
  });
}

function partition(node) {
  confirmThen(`Cut node ${node} off from every peer, both ways, for 30 seconds?`, async () => {
    try {
      await post('partition', { node, seconds: 30 });
      log(`partitioned ${node} for 30 s`);
    } catch (e) {
      log(`partition ${node} failed: ${e.message}`);
    }
  });
}

async function heal(node) {
  try {
    const a = await post('heal', { node });
    log(`healed ${node} (${a.cleared} fault rule(s) cleared)`);
  } catch (e) {
    log(`heal ${node} failed: ${e.message}`);
  }
}

// ---- nodes, actors, Raft ----

function nodeCard(name) {
  const id = `node-${name}`;
  let card = document.getElementById(id);
  if (card) return card;
  const partitionButton = el('button', { className: 'partition danger', textContent: 'partition 30 s' });
  partitionButton.onclick = () => partition(name);
  const healButton = el('button', { className: 'heal', textContent: 'heal' });
  healButton.onclick = () => heal(name);
  card = el('div', { className: 'node', id },
    el('h3', {},
      el('span', { className: 'name', textContent: name }),
      el('span', { className: 'state' }),
      el('small', { className: 'roles' }),
      el('small', { className: 'ready' }),
      el('small', { className: 'faults' }),
      partitionButton, healButton),
    el('table', {},
      el('thead', {}, el('tr', {},
        ...['actor', 'state', 'restarts', 'msg/s', 'mailbox', 'up', '']
          .map((h, i) => el('th', { textContent: h, className: i >= 2 && i <= 5 ? 'num' : '' })))),
      el('tbody')));
  card.dataset.node = name;
  return card;
}

function renderCluster(c) {
  $('#served-by').textContent = `served by ${c.servedBy}`;
  $('#updated').textContent = `updated ${new Date(c.time).toLocaleTimeString()}`;
  const container = $('#nodes');
  const nodeObjects = view.objects.nodes;
  const names = new Set(c.nodes.map((n) => n.name));
  for (const card of [...container.children]) {
    if (!names.has(card.dataset.node)) card.remove();
  }
  let previous = null;
  for (const n of c.nodes) {
    const card = nodeCard(n.name);
    const want = previous ? previous.nextSibling : container.firstChild;
    if (want !== card) container.insertBefore(card, want);
    previous = card;
    const h = card.querySelector('h3');
    const state = h.querySelector('.state');
    state.textContent = n.state;
    state.className = `state ${n.state}`;
    h.querySelector('.roles').textContent = n.roles.join(', ');
    const obj = [...nodeObjects.values()].find((o) => o.metadata.name === n.name);
    const ready = obj && (obj.status?.conditions || []).find((x) => x.type === 'Ready');
    h.querySelector('.ready').textContent = ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : '';
    h.querySelector('.faults').textContent = n.faults.length
      ? n.faults.map((f) => `${f.action} ${f.direction} (${Math.ceil(f.remainingMs / 1000)} s left)`).join('; ')
      : (n.error ? `unreachable: ${n.error}` : '');
    const actors = n.actors || [];
    syncRows(card.querySelector('tbody'), actors, (a) => a.name, (tr, a) => {
      const key = `${n.name}/${a.name}`;
      const before = view.previous.get(key);
      if (before && c.time > before.time) {
        view.rates.set(key, Math.max(0, (a.messages - before.messages) * 1000 / (c.time - before.time)));
      }
      view.previous.set(key, { messages: a.messages, time: c.time });
      tr.dataset.node = n.name;
      tr.dataset.actor = a.name;
      if (tr.restarts_ !== undefined && a.restarts > tr.restarts_) {
        tr.classList.add('flash');
        setTimeout(() => tr.classList.remove('flash'), 3000);
      }
      tr.restarts_ = a.restarts;
      let button = tr.kill_;
      if (!button && a.killable) {
        button = tr.kill_ = el('button', { className: 'kill danger', textContent: 'kill' });
        button.onclick = () => kill(n.name, a.name);
      }
      setCells(tr, [
        [a.name, 'name'],
        [a.state, `state ${a.state}`],
        [a.restarts, 'restarts num'],
        [(view.rates.get(key) || 0).toFixed(1), 'rate num'],
        [a.mailbox, 'mailbox num'],
        [a.state === 'Running' ? uptime(a.uptimeMs) : '', 'uptime num'],
        button || '',
      ]);
    });
  }
  renderRaft(c.raft);
}

function renderRaft(raft) {
  const summary = $('#raft-summary');
  if (!raft || raft.error) {
    summary.textContent = raft ? `unavailable: ${raft.error}` : '';
    syncRows($('#raft tbody'), [], () => '', () => {});
    return;
  }
  summary.textContent = `leader ${raft.leader || 'none'}, term ${raft.term}, revision ${raft.revision}`;
  syncRows($('#raft tbody'), raft.replicas, (r) => r.node, (tr, r) => {
    tr.dataset.node = r.node;
    setCells(tr, [
      r.node,
      r.voter ? 'voter' : 'learner',
      [r.state, `state ${r.state}`],
      [r.term, 'num'],
      [r.appliedIndex, 'applied num'],
      [r.lastLogIndex, 'num'],
      [r.revision, 'num'],
      [r.matchedIndex, 'num'],
    ]);
  });
}

// ---- API objects ----

function podStatus(p) {
  if (p.metadata.deletionTimestamp) return 'Terminating';
  const statuses = [...(p.status?.initContainerStatuses || []), ...(p.status?.containerStatuses || [])];
  for (const s of statuses) {
    const reason = s.state?.waiting?.reason || s.state?.terminated?.reason;
    if (reason && reason !== 'Completed') return reason;
  }
  return p.status?.phase || 'Pending';
}

function renderObjects() {
  view.pending = false;
  const byName = (a, b) =>
    (a.metadata.namespace || '').localeCompare(b.metadata.namespace || '') ||
    a.metadata.name.localeCompare(b.metadata.name);

  const pods = [...view.objects.pods.values()].sort(byName);
  $('#pods-summary').textContent = `${pods.length} total` + (pods.length > MAX_ROWS ? `, first ${MAX_ROWS} shown` : '');
  syncRows($('#pods tbody'), pods.slice(0, MAX_ROWS), (p) => p.metadata.uid, (tr, p) => {
    const statuses = p.status?.containerStatuses || [];
    const status = podStatus(p);
    tr.dataset.name = p.metadata.name;
    setCells(tr, [
      p.metadata.namespace,
      p.metadata.name,
      [status, `status ${status}`],
      `${statuses.filter((s) => s.ready).length}/${(p.spec?.containers || []).length}`,
      [statuses.reduce((n, s) => n + (s.restartCount || 0), 0), 'num'],
      p.spec?.nodeName || '',
      p.status?.podIP || '',
      age(p.metadata.creationTimestamp),
    ]);
  });

  const workloads = [];
  for (const d of view.objects.deployments.values()) {
    workloads.push({ kind: 'Deployment', o: d, ready: `${d.status?.readyReplicas || 0}/${d.spec?.replicas ?? 1}`,
      updated: d.status?.updatedReplicas || 0, available: d.status?.availableReplicas || 0 });
  }
  for (const s of view.objects.statefulsets.values()) {
    workloads.push({ kind: 'StatefulSet', o: s, ready: `${s.status?.readyReplicas || 0}/${s.spec?.replicas ?? 1}`,
      updated: s.status?.updatedReplicas || 0, available: s.status?.availableReplicas || 0 });
  }
  for (const d of view.objects.daemonsets.values()) {
    workloads.push({ kind: 'DaemonSet', o: d, ready: `${d.status?.numberReady || 0}/${d.status?.desiredNumberScheduled || 0}`,
      updated: d.status?.updatedNumberScheduled || 0, available: d.status?.numberAvailable || 0 });
  }
  workloads.sort((a, b) => a.kind.localeCompare(b.kind) || byName(a.o, b.o));
  syncRows($('#workloads tbody'), workloads.slice(0, MAX_ROWS), (w) => w.o.metadata.uid, (tr, w) => {
    const [ready, want] = w.ready.split('/');
    setCells(tr, [w.kind, w.o.metadata.namespace, w.o.metadata.name,
      [w.ready, ready === want ? 'ok' : 'warn'], [w.updated, 'num'], [w.available, 'num']]);
  });

  const when = (e) => e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp || '';
  const events = [...view.objects.events.values()]
    .sort((a, b) => when(b).localeCompare(when(a)))
    .slice(0, MAX_EVENTS);
  syncRows($('#events tbody'), events, (e) => e.metadata.uid, (tr, e) => {
    setCells(tr, [
      age(when(e)),
      [e.type, e.type],
      e.reason,
      `${(e.involvedObject?.kind || '').toLowerCase()}/${e.involvedObject?.name || ''}`,
      [e.count || 1, 'num'],
      [e.message, 'message'],
    ]);
  });

  if (view.cluster) renderCluster(view.cluster);
}

function scheduleObjects() {
  if (!view.pending) {
    view.pending = true;
    setTimeout(renderObjects, 200);
  }
}

// ---- the live stream ----

function connect() {
  const link = $('#link');
  const source = new EventSource('/dashboard/api/stream');
  source.addEventListener('open', () => {
    link.textContent = 'live';
    link.className = 'ok';
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      link.textContent = 'disconnected: open /dashboard/?token=... again';
      link.className = 'bad';
    } else {
      link.textContent = 'reconnecting…';
      link.className = 'warn';
    }
  });
  source.addEventListener('reset', () => {
    for (const m of Object.values(view.objects)) m.clear();
    scheduleObjects();
  });
  source.addEventListener('denied', (m) => {
    const d = JSON.parse(m.data);
    log(`not shown: ${d.resource} (${d.message})`);
  });
  source.addEventListener('watch', (m) => {
    const e = JSON.parse(m.data);
    const objects = view.objects[e.resource];
    const uid = e.object?.metadata?.uid;
    if (!objects || !uid) return;
    if (e.type === 'DELETED') objects.delete(uid);
    else if (e.type === 'ADDED' || e.type === 'MODIFIED') objects.set(uid, e.object);
    scheduleObjects();
  });
  source.addEventListener('cluster', (m) => {
    view.cluster = JSON.parse(m.data);
    renderCluster(view.cluster);
  });
}

connect();
