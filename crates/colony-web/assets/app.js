// colony's dashboard. Preact + htm, no build step. Every text shown goes
// through htm's interpolation, which makes text nodes: task titles and
// agent output can never become markup.
import { html, render, useState, useEffect, useRef, useCallback, useLayoutEffect } from './vendor/htm-preact.js';

const STATES = ['pending', 'ready', 'running', 'checking', 'merging', 'awaiting_approval', 'awaiting_input', 'done', 'failed', 'blocked', 'cancelled', 'replaced', 'proposed', 'dropped'];
const LEASED = ['running', 'checking', 'merging'];
const label = (s) => s.replace('_', ' ');

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function request(method, url, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'the colony server cannot be reached');
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText);
  return data;
}
const get = (url) => request('GET', url);
const post = (url, body) => request('POST', url, body);

// ---- formatting ----
function duration(ms) {
  if (ms == null) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
const clock = (t) => (t ? new Date(t).toLocaleTimeString() : '—');
const dateTime = (t) => (t ? new Date(t).toLocaleString() : '—');
const money = (usd) => (usd === null || usd === undefined ? 'unknown' : usd > 0 && usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`);
const tokens = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`);

const Badge = ({ status }) => html`<span class=${`badge s-${status}`}>${label(status)}</span>`;
const TaskLink = ({ id }) => html`<a href=${`#/task/${encodeURIComponent(id)}`}>${id}</a>`;

// ---- routing ----
function useRoute() {
  const read = () => (location.hash.replace(/^#/, '') || '/');
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    on(); // the hash may have changed before this listener was added
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

// ---- live updates: one EventSource; views refetch on `tick` ----
function useLive() {
  const [conn, setConn] = useState('connecting');
  const [tick, setTick] = useState(0);
  const [recent, setRecent] = useState([]);
  useEffect(() => {
    let timer = null;
    const bump = () => {
      if (timer) return;
      timer = setTimeout(() => { timer = null; setTick((t) => t + 1); }, 150);
    };
    const source = new EventSource('/api/events');
    source.onopen = () => { setConn('live'); bump(); };
    source.onerror = () => setConn(source.readyState === EventSource.CLOSED ? 'gone' : 'reconnecting');
    source.onmessage = (m) => {
      const event = JSON.parse(m.data);
      setRecent((r) => [event, ...r].slice(0, 40));
      bump();
    };
    return () => { source.close(); clearTimeout(timer); };
  }, []);
  return { conn, tick, recent };
}

// Fetches `url` now and whenever `tick` moves; keeps the last good answer.
function useData(url, tick) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    if (!url) return;
    let live = true;
    get(url).then((data) => live && setState({ data, error: null }), (error) => live && setState((s) => ({ data: s.data, error })));
    return () => { live = false; };
  }, [url, tick]);
  return state;
}

function useNow(every = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), every); return () => clearInterval(t); }, [every]);
  return now;
}

// ---- confirmation and messages ----
// `ask.field` names the text a control sends (`feedback`, `answer`) and
// labels its text area; `ask.quote` is text to show above it, as text.
function Confirm({ ask, onClose }) {
  const [said, setSaid] = useState('');
  useEffect(() => setSaid(''), [ask]); // each dialog starts empty
  if (!ask) return null;
  const go = () => { onClose(); ask.run(said); };
  return html`<div class="overlay" role="dialog" aria-modal="true" aria-label=${ask.title}>
    <div class="dialog">
      <h3>${ask.title}</h3>
      <p>${ask.text}</p>
      ${ask.quote && html`<pre class="quote">${ask.quote}</pre>`}
      ${ask.field && html`<textarea aria-label=${ask.field} placeholder=${ask.placeholder || 'What should the agent change?'} value=${said} onInput=${(e) => setSaid(e.target.value)}></textarea>`}
      <div class="buttons">
        <button onClick=${onClose}>Back</button>
        <button class=${ask.danger ? 'danger' : 'primary'} onClick=${go}>${ask.confirm}</button>
      </div>
    </div>
  </div>`;
}

function Message({ message }) {
  if (!message) return null;
  return html`<div class=${`message ${message.error ? 'error' : ''}`} role="status">${message.text}</div>`;
}

// ---- views ----
function Overview({ status, recent }) {
  if (!status) return html`<p class="muted">Loading…</p>`;
  const { total, counts, done } = status;
  const pct = total ? Math.round((100 * done) / total) : 0;
  return html`
    <div class="cards">
      <div class="card"><h3>Progress</h3><div class="big">${done} / ${total}</div>
        <div class="bar" aria-label=${`${pct}% done`}>
          ${STATES.filter((s) => counts[s]).map((s) => html`<span class=${`s-${s}`} style=${{ width: `${(100 * counts[s]) / total}%` }} title=${`${label(s)}: ${counts[s]}`}></span>`)}
        </div>
        <span class="muted">${pct}% done</span></div>
      <div class="card"><h3>Working now</h3><div class="big">${status.busy_workers}</div><span class="muted">${status.unfinished} tasks left</span></div>
      <div class="card"><h3>ETA</h3><div class="big">${status.over ? 'over' : duration(status.eta_ms)}</div><span class="muted">from the mean merged attempt</span></div>
      <div class="card"><h3>Spend</h3><div class="big">${money(status.spend.usd)}</div>
        <span class="muted">${tokens(status.spend.input_tokens)} tokens in, ${tokens(status.spend.output_tokens)} out</span></div>
    </div>
    ${(status.questions || []).length === 0 ? '' : html`<section class="questions" aria-label="questions"><h2>Questions for you</h2>
      ${status.questions.map((q) => html`<div class="question" data-task=${q.task}>
        <div><${TaskLink} id=${q.task} /> ${q.title} <span class="muted">— unanswered by ${dateTime(q.until)}, it fails</span></div>
        <pre>${q.question}</pre></div>`)}
    </section>`}
    ${(status.waiting || []).length === 0 ? '' : html`<section class="waiting" aria-label="agents waiting"><h2>Agents waiting</h2>
      ${status.waiting.map((w) => html`<p class="message">${w.ends_at == null
        ? `${w.agent}: ${w.tasks} ${w.tasks === 1 ? 'task' : 'tasks'} waiting for you — ${w.reason}`
        : `${w.agent}: rate-limited until ${clock(w.ends_at)}, ${w.tasks} ${w.tasks === 1 ? 'task' : 'tasks'} waiting (${w.reason})`}</p>`)}
    </section>`}
    <section><h2>Tasks by state</h2>
      <div class="chips">${STATES.map((s) => html`<a class=${`badge s-${s}`} href=${`#/tasks?status=${s}`}>${label(s)}: ${counts[s]}</a>`)}</div>
    </section>
    <section><h2>Integration branches</h2>
      ${status.plans.length === 0 ? html`<p class="muted">No plans yet: add one with <code>colony add PLAN</code>.</p>` : html`
      <table><thead><tr><th>plan</th><th>tasks</th><th>branch</th><th>report</th></tr></thead><tbody>
        ${status.plans.map((p) => html`<tr><td>${p.name}</td><td>${p.tasks}</td><td><code>${p.integration_branch}</code></td><td><a href=${reportUrl(p.name)} data-link="report">Report</a></td></tr>`)}
      </tbody></table>`}
    </section>
    <section><h2>Recent activity</h2>
      ${recent.length === 0 ? html`<p class="muted">Nothing yet since this page opened.</p>` : html`
      <table><tbody>${recent.slice(0, 15).map((e) => html`<tr>
        <td class="muted mono">${clock(e.at)}</td><td>${e.task ? html`<${TaskLink} id=${e.task} />` : ''}</td><td>${e.text}</td></tr>`)}
      </tbody></table>`}
    </section>`;
}

function Tasks({ tick, query }) {
  const [status, setStatus] = useState(query.get('status') || '');
  const [text, setText] = useState(query.get('q') || '');
  const [q, setQ] = useState(text);
  const [page, setPage] = useState(1);
  useEffect(() => { setStatus(query.get('status') || ''); setPage(1); }, [query.get('status')]);
  useEffect(() => { const t = setTimeout(() => { setQ(text); setPage(1); }, 250); return () => clearTimeout(t); }, [text]);
  const params = new URLSearchParams({ page, per_page: 50 });
  if (status) params.set('status', status);
  if (q) params.set('q', q);
  const { data, error } = useData(`/api/tasks?${params}`, tick);
  return html`
    <div class="toolbar">
      <select aria-label="status" value=${status} onChange=${(e) => { setStatus(e.target.value); setPage(1); }}>
        <option value="">every state</option>
        ${STATES.map((s) => html`<option value=${s}>${label(s)}</option>`)}
      </select>
      <input type="search" aria-label="search" placeholder="Search id or title" value=${text} onInput=${(e) => setText(e.target.value)} />
    </div>
    ${error && html`<p class="banner gone">${error.message}</p>`}
    ${data && html`
      <table class="tasks"><thead><tr><th>id</th><th>title</th><th>state</th><th class="hide-narrow">attempt</th><th class="hide-narrow">updated</th></tr></thead>
      <tbody>${data.tasks.map((t) => html`<tr class="row" data-id=${t.id} onClick=${() => { location.hash = `#/task/${encodeURIComponent(t.id)}`; }}>
        <td class="mono"><${TaskLink} id=${t.id} /></td><td>${t.title}</td><td><${Badge} status=${t.status} /></td>
        <td class="hide-narrow">${t.attempt || ''}</td><td class="hide-narrow muted">${clock(t.updated_at)}</td></tr>`)}
      </tbody></table>
      ${data.total === 0 && html`<p class="muted">No task matches.</p>`}
      <div class="pager">
        <span class="muted">${data.total} tasks · page ${data.page} of ${Math.max(1, data.pages)}</span>
        <button disabled=${page <= 1} onClick=${() => setPage(page - 1)}>Previous</button>
        <button disabled=${page >= data.pages} onClick=${() => setPage(page + 1)}>Next</button>
      </div>`}`;
}

function Graph({ tick }) {
  const { data, error } = useData('/api/graph', tick);
  const box = useRef(null);
  const [lines, setLines] = useState([]);
  const nodes = data || [];
  const draw = nodes.length <= 400;
  useLayoutEffect(() => {
    if (!box.current || !draw) return;
    const origin = box.current.getBoundingClientRect();
    const at = {};
    box.current.querySelectorAll('.node').forEach((el) => { at[el.dataset.id] = el.getBoundingClientRect(); });
    const edges = [];
    for (const n of nodes) {
      for (const d of n.deps) {
        const a = at[d], b = at[n.id];
        if (a && b) edges.push({ x1: a.right - origin.left, y1: a.top + a.height / 2 - origin.top, x2: b.left - origin.left, y2: b.top + b.height / 2 - origin.top, key: `${d}>${n.id}` });
      }
    }
    setLines(edges);
  }, [data]);
  if (error) return html`<p class="banner gone">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const columns = [];
  for (const n of nodes) (columns[n.depth] = columns[n.depth] || []).push(n);
  return html`<section class="graph" ref=${box}>
    ${draw && html`<svg width="100%" height="100%">${lines.map((l) => html`<line key=${l.key} x1=${l.x1} y1=${l.y1} x2=${l.x2} y2=${l.y2} />`)}</svg>`}
    <div class="columns">
      ${columns.map((col, depth) => html`<div class="column"><h4>depth ${depth}</h4>
        ${(col || []).map((n) => html`<a class=${`node s-${n.status}`} data-id=${n.id} href=${`#/task/${encodeURIComponent(n.id)}`} title=${`${n.id}: ${n.title} (${label(n.status)})`}>${n.id}</a>`)}
      </div>`)}
    </div>
    ${!draw && html`<p class="muted">${nodes.length} tasks: dependency lines are drawn for 400 or fewer.</p>`}
  </section>`;
}

function Workers({ tick }) {
  const { data, error } = useData('/api/workers', tick);
  const now = useNow();
  const [loadedAt, setLoadedAt] = useState(Date.now());
  useEffect(() => setLoadedAt(Date.now()), [data]);
  if (error) return html`<p class="banner gone">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  if (data.length === 0) return html`<p class="muted">No worker is on a task right now.</p>`;
  return html`<table class="workers"><thead><tr><th>worker</th><th>task</th><th>phase</th><th>elapsed</th><th>progress · last line</th></tr></thead>
    <tbody>${data.map((w) => html`<tr>
      <td class="mono">${w.worker}</td><td><${TaskLink} id=${w.task} /><div class="muted">${w.title}</div></td>
      <td><${Badge} status=${w.phase} /> <span class="muted">a${w.attempt}</span></td>
      <td>${duration(w.elapsed_ms == null ? null : w.elapsed_ms + (now - loadedAt))}</td>
      <td>${w.progress && html`<div class="progress">${w.progress}</div>`}<pre class="muted">${w.last_line || ''}</pre></td></tr>`)}</tbody></table>`;
}

function LogLine({ r }) {
  let kind = r.kind, text;
  switch (r.kind) {
    case 'raw': kind = r.stream; text = r.text; break;
    case 'text': kind = 'agent'; text = r.text; break;
    case 'tool_use': kind = 'tool'; text = `${r.name} ${r.input_summary}`; break;
    case 'tool_result': kind = r.is_error ? 'error' : 'result'; text = r.output; break;
    case 'usage': kind = 'tokens'; text = `${r.input} in, ${r.output} out, ${r.cached} cached`; break;
    case 'cost': text = money(r.usd); break;
    case 'session': text = `session ${r.id}`; break;
    case 'error': text = `${r.class}: ${r.message}`; break;
    case 'finished': text = r.message || (r.is_error ? 'finished with an error' : 'finished'); break;
    case 'colony': text = r.says; break;
    case 'omitted': kind = 'cut'; text = `${r.records} records (${r.bytes} bytes) of output left out here: the log keeps the head and the tail`; break;
    default: text = JSON.stringify(r);
  }
  return html`<div class="line"><span class="t">${clock(r.t)}</span><span class=${`k ${kind === 'error' ? 'err' : ''}`}>${kind}</span><pre>${text}</pre></div>`;
}

// The log: the detail's tail, then live records while the attempt runs.
function Log({ task, tail, running }) {
  const [records, setRecords] = useState(tail.records);
  const end = useRef(null);
  // Once the stream has begun, it alone says what the log holds: a tail
  // fetched meanwhile may hold records the stream has yet to send.
  const streaming = useRef(false);
  useEffect(() => { if (!streaming.current) setRecords(tail.records); }, [tail]);
  useEffect(() => {
    if (!running || tail.attempt == null) return;
    const source = new EventSource(`/api/tasks/${encodeURIComponent(task)}/log?follow=1&attempt=${tail.attempt}`);
    // Each connection, a reconnection too, starts from the log's beginning.
    source.onopen = () => { streaming.current = false; };
    source.onmessage = (m) => {
      const r = JSON.parse(m.data);
      // Its first record replaces what is shown.
      const first = !streaming.current;
      streaming.current = true;
      setRecords((rs) => (first ? [r] : [...rs, r]).slice(-2000));
    };
    source.addEventListener('end', () => source.close());
    return () => { source.close(); streaming.current = false; };
  }, [task, tail.attempt, running]);
  useEffect(() => { if (end.current) end.current.scrollTop = end.current.scrollHeight; }, [records]);
  if (tail.attempt == null) return html`<p class="muted">No attempt yet.</p>`;
  return html`<div class="log" ref=${end} aria-label="log">
    ${tail.skipped > 0 && html`<p class="muted">${tail.skipped} earlier records not shown; <code>colony logs ${task} --all</code> has them all.</p>`}
    ${records.map((r) => html`<${LogLine} r=${r} />`)}
    ${records.length === 0 && html`<p class="muted">The log is empty so far.</p>`}
  </div>`;
}

function DiffView({ diff }) {
  if (!diff) return html`<p class="muted">No diff: the attempt has not committed yet, or its branch is gone.</p>`;
  const lines = diff.text.split('\n');
  const shown = lines.slice(0, 5000);
  const cls = (l) => (l.startsWith('@@') ? 'hunk' : l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : '');
  return html`<div>
    <p class="muted">Attempt ${diff.attempt}, ${diff.source === 'merged' ? 'as merged' : 'its branch against the integration branch'}: <code>${diff.from.slice(0, 10)}..${diff.to.slice(0, 10)}</code></p>
    <div class="diff mono">${shown.map((l) => html`<div class=${cls(l)}>${l}</div>`)}</div>
    ${(diff.truncated || lines.length > shown.length) && html`<p class="muted">The diff is cut here.</p>`}
  </div>`;
}

function Gates({ gates }) {
  if (gates.length === 0) return html`<p class="muted">No gate has run.</p>`;
  return gates.map((g) => html`<div class=${`gate ${g.passed === true ? 'pass' : g.passed === false ? 'fail' : ''}`}>
    <div><code>${g.command}</code> — attempt ${g.attempt}, ${g.passed === true ? 'passed' : g.passed === false ? 'failed' : 'running'}</div>
    ${g.truncated && html`<p class="muted">earlier lines left out</p>`}
    <pre>${g.output.join('\n')}</pre></div>`);
}

function TaskDetail({ id, tick, act }) {
  const { data, error } = useData(`/api/tasks/${encodeURIComponent(id)}`, tick);
  const [tab, setTab] = useState('log');
  if (error && !data) return html`<p class="banner gone">${error.message}</p>`;
  if (!data) return html`<p class="muted">Loading…</p>`;
  const s = data.status;
  const proposal = data.events.length > 0 && data.events[0].type === 'task_added' ? data.events[0].proposal : null;
  const control = (name, title, text, opts = {}) => html`<button class=${opts.danger ? 'danger' : ''} data-action=${name}
      onClick=${() => act({ title, text, confirm: opts.confirm || title, danger: opts.danger, field: opts.field, quote: opts.quote, placeholder: opts.placeholder,
        run: (said) => post(`/api/tasks/${encodeURIComponent(id)}/${name}`, opts.field ? { [opts.field]: said } : {}).then(() => `${title}: ${id}`) })}>${title}</button>`;
  const tabs = [['log', 'Log'], ['prompt', 'Prompt'], ['diff', 'Diff'], ['gates', `Gates (${data.gates.length})`], ['reviews', 'Reviews'], ['attempts', `Attempts (${data.attempts.length})`], ['events', 'Events']];
  return html`
    <div class="detail-head">
      <h2 class="mono">${data.id}</h2><${Badge} status=${s} /><span class="task-title">${data.title}</span>
      <span class="spacer"></span>
      <div class="controls">
        ${(s === 'failed' || s === 'cancelled') && control('retry', 'Retry', `Send ${id} back to the queue with its attempts reset?`)}
        ${LEASED.includes(s) && control('kill', 'Kill', `Stop the running attempt of ${id}? Its agent is stopped; the task is queued again while it has attempts left.`, { danger: true })}
        ${s === 'proposed' && control('approve', 'Add', `Add the follow-up ${id} to its plan's work? It runs once its dependencies are done.`)}
        ${s === 'proposed' && control('reject', 'Drop', `Drop the follow-up ${id}? Proposals that depend on it are dropped too.`, { field: 'feedback', danger: true, placeholder: 'Why is it dropped?' })}
        ${!['done', 'cancelled', 'replaced', 'proposed', 'dropped'].includes(s) && control('cancel', 'Cancel', `Cancel ${id}? Tasks that depend on it become blocked.`, { danger: true, confirm: 'Cancel the task' })}
        ${s === 'awaiting_approval' && control('approve', 'Approve', `Approve ${id}'s work for merging?`)}
        ${s === 'awaiting_approval' && control('reject', 'Reject', `Send ${id} back to its agent with your feedback?`, { field: 'feedback' })}
        ${s === 'awaiting_input' && control('answer', 'Answer', `The agent of ${id} asks:`, { field: 'answer', quote: data.question, placeholder: 'Your answer: the agent goes on with it' })}
      </div>
    </div>
    ${s === 'awaiting_input' && html`<section class="question" aria-label="question">
      <h2>Its agent asks you</h2>
      <pre>${data.question}</pre>
      <p class="muted">If nobody answers by ${dateTime(data.until)}, the task fails with this question as its reason.</p>
    </section>`}
    <section>
      <dl class="kv">
        <dt>plan</dt><dd>${data.plan} → <code>${data.integration_branch}</code> · <a href=${reportUrl(data.plan)} data-link="report">Report</a></dd>
        ${data.reason && html`<dt>reason</dt><dd><pre>${data.reason}</pre></dd>`}
        ${data.by && html`<dt>blocked by</dt><dd><${TaskLink} id=${data.by} /></dd>`}
        ${proposal && html`<dt>proposed by</dt><dd>the agent of <${TaskLink} id=${proposal.by} />, attempt ${proposal.attempt}</dd>`}
        <dt>depends on</dt><dd>${data.deps.length ? data.deps.map((d, i) => html`${i ? ', ' : ''}<${TaskLink} id=${d} />`) : '—'}</dd>
        <dt>needed by</dt><dd>${data.dependents.length ? data.dependents.map((d, i) => html`${i ? ', ' : ''}<${TaskLink} id=${d} />`) : '—'}</dd>
        <dt>attempts</dt><dd>${data.attempt} of at most ${data.max_attempts} (${data.tries} since queued)</dd>
        <dt>spend</dt><dd>${money(data.spend.some((x) => x.usd !== null) ? data.spend.reduce((a, x) => a + (x.usd || 0), 0) : null)}</dd>
      </dl>
    </section>
    <div class="tabs" role="tablist">${tabs.map(([k, name]) => html`<button role="tab" class=${tab === k ? 'on' : ''} aria-selected=${tab === k} onClick=${() => setTab(k)}>${name}</button>`)}</div>
    <section>
      ${tab === 'log' && html`<${Log} task=${data.id} tail=${data.log} running=${LEASED.includes(s)} />`}
      ${tab === 'prompt' && html`<pre class="prompt">${data.spec.prompt}</pre>
        ${data.spec.acceptance && html`<h2>Acceptance</h2><ul>${data.spec.acceptance.map((a) => html`<li>${a}</li>`)}</ul>`}`}
      ${tab === 'diff' && html`<${DiffView} diff=${data.diff} />`}
      ${tab === 'gates' && html`<${Gates} gates=${data.gates} />`}
      ${tab === 'reviews' && (data.reviews.length ? data.reviews.map((r) => html`<${ReviewCard} review=${r} />`) : html`<p class="muted">No review yet.</p>`)}
      ${tab === 'attempts' && html`<table><thead><tr><th>#</th><th>worker</th><th>started</th><th>took</th><th>outcome</th></tr></thead><tbody>
        ${data.attempts.map((a) => html`<tr><td>${a.attempt}</td><td class="mono">${a.worker}</td><td>${clock(a.started_at)}</td>
          <td>${a.ended_at ? duration(a.ended_at - a.started_at) : 'running'}</td><td>${a.outcome || ''} ${a.reason ? html`<pre class="muted">${a.reason}</pre>` : ''}</td></tr>`)}
      </tbody></table>`}
      ${tab === 'events' && html`<table><tbody>${data.events.map((e) => html`<tr><td class="muted mono">${clock(e.at)}</td><td>${e.text}</td></tr>`)}</tbody></table>`}
    </section>`;
}

// ---- the run report: the same numbers as `colony report` ----
const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;
const share = (part, whole) => `${whole ? ((part * 100) / whole).toFixed(1) : '0.0'}%`;
const BUCKETS = [['setup_ms', 'setup'], ['agent_ms', 'agent work'], ['gates_ms', 'gates'], ['review_ms', 'review'], ['merge_queue_ms', 'merge queue'], ['rate_limit_ms', 'rate-limit pauses']];
const FAILED = ['failed', 'expired', 'killed', 'abandoned'];
const spent = (u) => `${tokens(u.input)} in / ${tokens(u.output)} out / ${tokens(u.cached)} cached, ${money(u.cost_usd)}`;
const reportUrl = (plan) => `#/report/${encodeURIComponent(plan)}`;

// `value`, changed at most once every `ms`: the report reads every task of
// its plan, too much to do on each event of a busy run.
function useThrottled(value, ms) {
  const [held, setHeld] = useState(value);
  const last = useRef(0);
  useEffect(() => {
    const t = setTimeout(() => { last.current = Date.now(); setHeld(value); }, Math.max(0, last.current + ms - Date.now()));
    return () => clearTimeout(t);
  }, [value]);
  return held;
}

// The tasks that made an attempt, largest `key` first, at most five.
function top(report, key) {
  return report.tasks.filter((t) => t.attempts > 0).sort((a, b) => key(b) - key(a)).slice(0, 5);
}

// A row per worker, a bar per attempt, as render.rs draws it in the HTML
// report; drawn here from the JSON, so every text is a text node.
function Timeline({ report }) {
  const LABEL = 140, WIDTH = 900, ROW = 28;
  const workers = [...new Set(report.attempts.map((a) => a.worker))].sort();
  const height = ROW * workers.length + 30;
  const scale = report.wall_ms > 0 ? WIDTH / report.wall_ms : 0;
  const outcome = (o) => (o === 'done' ? 'done' : FAILED.includes(o) ? 'failed' : o === 'running' ? 'running' : 'other');
  return html`<svg class="timeline" viewBox=${`0 0 ${LABEL + WIDTH + 10} ${height}`} role="img" aria-label="attempts per worker">
    ${workers.map((w, i) => html`<g key=${w}>
      <text x="4" y=${i * ROW + 18} class="worker">${w}</text>
      ${report.attempts.filter((a) => a.worker === w).map((a) => {
        const x = LABEL + (a.start - report.start) * scale;
        return html`<g class="attempt" data-task=${a.task}>
          <rect x=${x} y=${i * ROW + 4} width=${Math.max(2, a.wall_ms * scale)} height=${ROW - 8} class=${`o-${outcome(a.outcome)}`}>
            <title>${`${a.task} #${a.attempt}: ${a.outcome} (${secs(a.wall_ms)})`}</title></rect>
          <text x=${x + 3} y=${i * ROW + 18} class="label">${a.task}</text></g>`;
      })}</g>`)}
    <text x=${LABEL} y=${height - 8} class="axis">0s</text>
    <text x=${LABEL + WIDTH} y=${height - 8} class="axis" text-anchor="end">${secs(report.wall_ms)}</text>
  </svg>`;
}

function Report({ plan, tick }) {
  const { data: r, error } = useData(`/api/plans/${encodeURIComponent(plan)}/report`, useThrottled(tick, 5000));
  if (error && !r) return html`<p class="banner gone">${error.message}</p>`;
  if (!r) return html`<p class="muted">Loading…</p>`;
  const cost = r.tasks.some((t) => t.usage.cost_usd != null) ? r.tasks.reduce((a, t) => a + (t.usage.cost_usd || 0), 0) : null;
  return html`
    <div class="detail-head"><h2>Run report: ${r.plan}</h2><span class="spacer"></span>
      <a href=${`/api/plans/${encodeURIComponent(plan)}/report?format=html`} target="_blank" rel="noopener">as a page</a></div>
    <div class="cards report-cards">
      <div class="card" data-figure="wall"><h3>Wall time</h3><div class="big">${secs(r.wall_ms)}</div>
        <span class="muted">${r.attempts.length} attempts of ${r.tasks.length} tasks</span></div>
      <div class="card" data-figure="attempts"><h3>Attempts' time</h3><div class="big">${secs(r.attempts_wall_ms)}</div>
        <span class="muted">summed over the attempts</span></div>
      <div class="card" data-figure="critical"><h3>Critical path</h3><div class="big">${share(r.critical_path_ms, r.wall_ms)}</div>
        <span class="muted">${secs(r.critical_path_ms)} of the wall time</span></div>
      <div class="card" data-figure="spend"><h3>Spend</h3><div class="big">${money(cost)}</div>
        <span class="muted">${r.failures.length} failed ${r.failures.length === 1 ? 'attempt' : 'attempts'}</span></div>
    </div>
    <section aria-label="timeline"><h2>Timeline</h2>
      ${r.attempts.length === 0 ? html`<p class="muted">No attempt yet.</p>` : html`<${Timeline} report=${r} />`}</section>
    <section aria-label="where the time went"><h2>Where the time went</h2>
      <div class="bar split">${BUCKETS.filter(([k]) => r.totals[k] > 0).map(([k, name]) => html`<span class=${`b-${k}`} style=${{ width: share(r.totals[k], r.attempts_wall_ms) }} title=${name}></span>`)}</div>
      <table class="split"><thead><tr><th>bucket</th><th>time</th><th>share</th></tr></thead><tbody>
        ${BUCKETS.map(([k, name]) => html`<tr data-bucket=${k}><td><span class=${`key b-${k}`}></span>${name}</td><td>${secs(r.totals[k])}</td><td>${share(r.totals[k], r.attempts_wall_ms)}</td></tr>`)}
        <tr data-bucket="total"><td>total</td><td>${secs(r.attempts_wall_ms)}</td><td>${share(BUCKETS.reduce((a, [k]) => a + r.totals[k], 0), r.attempts_wall_ms)}</td></tr>
      </tbody></table>
      <p class="muted">Outside attempts, tasks waited ${secs(r.dep_wait_ms)} for their dependencies.</p></section>
    <section aria-label="critical path"><h2>Critical path</h2>
      <p class="path">${r.critical_path.map((t, i) => html`${i ? ' → ' : ''}<${TaskLink} id=${t} />`)}
        ${r.critical_path.length ? ` — ${secs(r.critical_path_ms)} of ${secs(r.wall_ms)} wall time (${share(r.critical_path_ms, r.wall_ms)})` : html`<span class="muted">No attempt has ended yet.</span>`}</p></section>
    <section aria-label="agents and models"><h2>Agents and models</h2>
      <table class="agents"><thead><tr><th>agent</th><th>model</th><th>tasks</th><th>first-try successes</th><th>fix rounds</th><th>review rounds</th><th>spent</th></tr></thead><tbody>
        ${r.agents.map((a) => html`<tr><td>${a.agent}</td><td>${a.model}</td><td>${a.tasks}</td><td>${a.first_try}</td><td>${a.fix_rounds}</td><td>${a.review_rounds}</td><td>${spent(a.usage)}</td></tr>`)}
      </tbody></table></section>
    <div class="cards">
      <section aria-label="slowest"><h2>Slowest</h2><table class="slowest"><tbody>
        ${top(r, (t) => t.span_ms).map((t) => html`<tr><td><${TaskLink} id=${t.id} /></td><td>${t.title}</td><td>${secs(t.span_ms)}</td></tr>`)}</tbody></table></section>
      <section aria-label="most expensive"><h2>Most expensive</h2><table class="costliest"><tbody>
        ${top(r, (t) => t.usage.cost_usd || 0).map((t) => html`<tr><td><${TaskLink} id=${t.id} /></td><td>${t.title}</td><td>${money(t.usage.cost_usd)}</td></tr>`)}</tbody></table></section>
    </div>
    <section aria-label="failures"><h2>Failures</h2>
      ${r.failures.length === 0 ? html`<p class="muted">None.</p>` : html`<table class="failures"><thead><tr><th>task</th><th>attempt</th><th>outcome</th><th>class</th><th>reason</th></tr></thead><tbody>
        ${r.failures.map((f) => html`<tr data-task=${f.task}><td><${TaskLink} id=${f.task} /></td><td>${f.attempt}</td><td>${f.outcome}</td><td>${f.class}</td><td><pre>${f.reason}</pre></td></tr>`)}
      </tbody></table>`}</section>`;
}

// ---- the app ----
function App() {
  const route = useRoute();
  const { conn, tick, recent } = useLive();
  const { data: status, error: statusError } = useData('/api/status', tick);
  const { data: session } = useData('/api/session', 0);
  const [ask, setAsk] = useState(null);
  const [message, setMessage] = useState(null);
  const say = useCallback((text, error = false) => {
    setMessage({ text, error });
    setTimeout(() => setMessage((m) => (m && m.text === text ? null : m)), 6000);
  }, []);
  const act = useCallback((request) => setAsk({
    ...request,
    run: (said) => request.run(said).then((done) => say(done), (e) => say(e.status === 401
      ? `Not allowed: ${e.message}` : e.message, true)),
  }), [say]);

  const [path, search] = route.split('?');
  const query = new URLSearchParams(search || '');
  const view = path.startsWith('/task/') ? 'task' : path.startsWith('/report/') ? 'report' : path.slice(1) || 'overview';
  const runState = status && status.run;
  const gone = conn !== 'live' || (statusError && statusError.status === 0);
  const stop = (now) => act({
    title: now ? 'Emergency stop' : 'Stop the run',
    text: now ? 'Stop every agent now? Their tasks go back to the queue.' : 'Stop claiming new work and let running attempts finish?',
    confirm: now ? 'Stop now' : 'Stop', danger: true,
    run: () => post('/api/run/stop', { now }).then(() => (now ? 'Stopping now' : 'Stopping when running attempts finish')),
  });
  const nav = [['overview', 'Overview'], ['tasks', 'Tasks'], ['graph', 'Graph'], ['workers', 'Workers']];
  return html`
    <header>
      <h1>colony</h1>
      <nav>${nav.map(([k, name]) => html`<a href=${`#/${k === 'overview' ? '' : k}`} class=${view === k ? 'on' : ''}>${name}</a>`)}</nav>
      <span class="spacer"></span>
      ${runState && runState.in_process && html`<div class="controls">
        <button class="danger" data-action="stop" disabled=${runState.state !== 'running'} onClick=${() => stop(false)}>Stop</button>
        <button class="danger" data-action="stop-now" disabled=${runState.state === 'stopping'} onClick=${() => stop(true)}>Emergency stop</button></div>`}
      <span class=${`conn ${conn}`} data-conn=${conn}>${conn === 'live' ? 'live' : conn === 'gone' ? 'server gone' : 'reconnecting…'}</span>
    </header>
    <main>
      ${gone && conn !== 'connecting' && html`<div class="banner gone" data-banner="gone">The colony server is not answering; the page keeps trying. What you see may be out of date.</div>`}
      ${status && status.over && status.total > 0 && html`<div class="banner over" data-banner="over">
        The run is over: ${status.done} of ${status.total} done${STATES.filter((s) => s !== 'done' && status.counts[s]).map((s) => `, ${status.counts[s]} ${label(s)}`).join('')}.</div>`}
      ${session && !session.authorized && html`<p class="muted">Read only: to use the controls, open the URL <code>colony serve</code> printed (it carries the token).</p>`}
      ${view === 'overview' && html`<${Overview} status=${status} recent=${recent} />`}
      ${view === 'tasks' && html`<${Tasks} tick=${tick} query=${query} />`}
      ${view === 'graph' && html`<${Graph} tick=${tick} />`}
      ${view === 'workers' && html`<${Workers} tick=${tick} />`}
      ${view === 'task' && html`<${TaskDetail} id=${decodeURIComponent(path.slice(6))} tick=${tick} act=${act} />`}
      ${view === 'report' && html`<${Report} plan=${decodeURIComponent(path.slice(8))} tick=${tick} />`}
    </main>
    <${Confirm} ask=${ask} onClose=${() => setAsk(null)} />
    <${Message} message=${message} />`;
}

const root = document.getElementById('app');
root.textContent = ''; // the loading note
render(html`<${App} />`, root);

/** One reviewer's answer on one round: the verdict, the summary, each issue. */
function ReviewCard({ review }) {
  const verdict = review.outcome === 'no_verdict' ? 'no verdict' : review.verdict === 'approved' ? 'approved' : 'needs changes';
  return html`<section class="review">
    <h4>Attempt ${review.attempt}, round ${review.round}: ${review.reviewer} — ${verdict}</h4>
    ${review.outcome === 'no_verdict' && html`<p class="muted">${review.reason}</p>`}
    ${review.summary && html`<p>${review.summary}</p>`}
    ${review.issues && review.issues.length > 0 && html`<ul>${review.issues.map((i) => html`<li>${i.file ? `${i.file}${i.line ? `:${i.line}` : ''} ` : ''}${i.severity ? `[${i.severity}] ` : ''}${i.message}</li>`)}</ul>`}
  </section>`;
}
