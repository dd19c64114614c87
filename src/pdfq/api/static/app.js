// pdfq web page: upload PDFs, follow their jobs live, read the results.
//
// Plain JavaScript, no framework and no build step. Everything the document shows that came
// from a PDF or from the server is untrusted: it goes into the page as text (textContent), or
// through renderMarkdown(), which escapes all HTML before it adds the few tags it knows.
//
// Live progress reads GET /v1/jobs/{id}/events as server-sent events with fetch() (not
// EventSource, which cannot send an Authorization header), and resumes a dropped stream
// with Last-Event-ID.

const API_KEY_STORAGE = 'pdfq.apiKey';
const LIST_LIMIT = 20;
// Browsers open at most 6 HTTP/1.1 connections per host: streams beyond this many wait their
// turn, so that uploads and result downloads always find a free connection.
const MAX_STREAMS = 4;
const MAX_UPLOADS = 2;
const DEFAULT_RETRY_MS = 2000;
const MAX_RETRY_MS = 15000;
// The server sends a keep-alive every 15 s: this long without a byte, the connection is taken
// for dead (a proxy or a sleeping laptop dropped it, or the server stalled): the job is read
// once, and the stream opened again.
const STALL_MS = 25000;
const QUEUE_FULL_ATTEMPTS = 5;
const PAGES_PER_STEP = 50;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
// Titles that PDF producers write when the author gave none.
const PLACEHOLDER_TITLES = new Set(['(anonymous)', '(unspecified)', 'untitled', 'untitled document']);

// --- Markdown: the subset pdfq writes, rendered safely -----------------------------------------

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The text with every character that means something in HTML escaped. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
const BULLET = /^ {0,3}[-*+][ \t]+(.*)$/;
const NUMBERED = /^ {0,3}(\d{1,9})[.)][ \t]+(.*)$/;
const TABLE_DIVIDER = /^ *\|? *:?-{3,}:? *(?:\| *:?-{3,}:? *)*\|? *$/;
// After escapeHtml, a backslash escape is a backslash before ASCII punctuation or an entity.
const ESCAPED = /^\\(&(?:amp|lt|gt|quot|#39);|[!-/:-@[-`{-~])/;

/**
 * HTML for Markdown: headings, paragraphs, bullet and numbered lists, pipe tables, **bold**,
 * *italic* and backslash escapes. The source is HTML-escaped before anything else, so no
 * text of it can become markup: the only tags in the answer are the ones added here.
 */
export function renderMarkdown(source) {
  const lines = escapeHtml(source).replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = heading[1].length;
      out.push(`<h${level}>${renderInline((heading[2] || '').trim())}</h${level}>`);
      i += 1;
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1])) {
      const rows = [splitRow(line)];
      i += 2;
      while (i < lines.length && lines[i].trim() && lines[i].includes('|')) {
        rows.push(splitRow(lines[i]));
        i += 1;
      }
      out.push(renderTable(rows));
      continue;
    }
    const list = BULLET.test(line) ? 'ul' : NUMBERED.test(line) ? 'ol' : null;
    if (list) {
      const pattern = list === 'ul' ? BULLET : NUMBERED;
      const items = [];
      let start = 1;
      while (i < lines.length && lines[i].trim()) {
        const item = pattern.exec(lines[i]);
        if (item) {
          if (!items.length && list === 'ol') start = Number(item[1]);
          items.push(list === 'ul' ? item[1] : item[2]);
        } else if (items.length && /^[ \t]/.test(lines[i]) && !startsBlock(lines, i)) {
          items[items.length - 1] += `\n${lines[i].trim()}`; // a continued item
        } else {
          break;
        }
        i += 1;
      }
      const attributes = list === 'ol' && start !== 1 ? ` start="${start}"` : '';
      const body = items.map((item) => `<li>${renderInline(item)}</li>`).join('');
      out.push(`<${list}${attributes}>${body}</${list}>`);
      continue;
    }
    const paragraph = [line.trim()];
    i += 1;
    while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) {
      paragraph.push(lines[i].trim());
      i += 1;
    }
    out.push(`<p>${renderInline(paragraph.join('\n'))}</p>`);
  }
  return out.join('\n');
}

function startsBlock(lines, i) {
  const line = lines[i];
  return (
    HEADING.test(line) ||
    BULLET.test(line) ||
    NUMBERED.test(line) ||
    (line.includes('|') && i + 1 < lines.length && TABLE_DIVIDER.test(lines[i + 1]))
  );
}

/** The cells of an (escaped) table row; `\|` is a pipe inside a cell. */
function splitRow(line) {
  let text = line.trim();
  if (text.startsWith('|')) text = text.slice(1);
  if (text.endsWith('|') && !text.endsWith('\\|')) text = text.slice(0, -1);
  const cells = [];
  let cell = '';
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === '\\' && text[i + 1] === '|') {
      cell += '|';
      i += 1;
    } else if (text[i] === '|') {
      cells.push(cell.trim());
      cell = '';
    } else {
      cell += text[i];
    }
  }
  cells.push(cell.trim());
  return cells;
}

function renderTable(rows) {
  const width = Math.max(...rows.map((row) => row.length));
  const cells = (row, tag) =>
    Array.from({ length: width }, (_, k) => `<${tag}>${renderInline(row[k] ?? '')}</${tag}>`).join('');
  const [head, ...body] = rows;
  const bodyHtml = body.map((row) => `<tr>${cells(row, 'td')}</tr>`).join('');
  return (
    `<div class="table-scroll"><table><thead><tr>${cells(head, 'th')}</tr></thead>` +
    `<tbody>${bodyHtml}</tbody></table></div>`
  );
}

/** Inline Markdown of already escaped text: backslash escapes, **bold** and *italic*. */
function renderInline(text) {
  let out = '';
  let i = 0;
  // Once no closing marker is found after some point, none will be after a later one: this
  // keeps a line full of asterisks linear instead of quadratic.
  const unclosed = { '**': Infinity, '*': Infinity };
  const find = (from, marker) => {
    if (from >= unclosed[marker]) return -1;
    const end = closing(text, from, marker);
    if (end < 0) unclosed[marker] = from;
    return end;
  };
  while (i < text.length) {
    const escaped = text[i] === '\\' ? ESCAPED.exec(text.slice(i, i + 7)) : null;
    if (escaped) {
      out += escaped[1];
      i += escaped[0].length;
      continue;
    }
    if (text.startsWith('**', i)) {
      const end = find(i + 2, '**');
      if (end > i + 2) {
        out += `<strong>${renderInline(text.slice(i + 2, end))}</strong>`;
        i = end + 2;
        continue;
      }
    } else if (text[i] === '*') {
      const end = find(i + 1, '*');
      if (end > i + 1) {
        out += `<em>${renderInline(text.slice(i + 1, end))}</em>`;
        i = end + 1;
        continue;
      }
    }
    out += text[i];
    i += 1;
  }
  return out;
}

/** Where the emphasis opened at `from` closes, or -1: no space just inside either marker. */
function closing(text, from, marker) {
  if (from >= text.length || /\s/.test(text[from])) return -1;
  for (let j = from; j < text.length; j += 1) {
    if (text[j] === '\\' && ESCAPED.test(text.slice(j, j + 7))) {
      j += ESCAPED.exec(text.slice(j, j + 7))[0].length - 1;
      continue;
    }
    if (marker === '**' && text.startsWith('**', j) && j > from && !/\s/.test(text[j - 1])) {
      return j;
    }
    if (marker === '*' && text[j] === '*') {
      if (text[j + 1] === '*') {
        // a bold run inside the italic text: skip to its end
        const end = closing(text, j + 2, '**');
        if (end < 0) return -1;
        j = end + 1;
        continue;
      }
      if (j > from && !/\s/.test(text[j - 1])) return j;
    }
  }
  return -1;
}

// --- Server-sent events ---------------------------------------------------------------------

/**
 * An incremental parser of a text/event-stream body (the WHATWG rules): feed it decoded text
 * with push(), get the complete messages back as {event, data, id, ownId}: `id` is the
 * stream's last event id as the message left it, `ownId` the id the message itself carried
 * (or null). `lastEventId` and `retry` follow the stream; comment lines (keep-alives) are
 * ignored.
 */
export class SseParser {
  constructor() {
    this.buffer = '';
    this.event = '';
    this.data = [];
    this.ownId = null;
    this.lastEventId = '';
    this.retry = null;
  }

  push(text) {
    this.buffer += text;
    const messages = [];
    const ends = /\r\n|\r|\n/g;
    let start = 0;
    for (let match = ends.exec(this.buffer); match; match = ends.exec(this.buffer)) {
      // A CR at the very end may be the first half of a CRLF: wait for more text.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const message = this.line(this.buffer.slice(start, match.index));
      if (message) messages.push(message);
      start = ends.lastIndex;
    }
    this.buffer = this.buffer.slice(start);
    return messages;
  }

  /** The stream ended: a message without its closing blank line is dropped, as the spec says. */
  end() {
    this.buffer = '';
    this.event = '';
    this.data = [];
    this.ownId = null;
    return [];
  }

  line(line) {
    if (line === '') {
      const message = this.data.length
        ? {
            event: this.event || 'message',
            data: this.data.join('\n'),
            id: this.lastEventId,
            ownId: this.ownId,
          }
        : null;
      this.event = '';
      this.data = [];
      this.ownId = null;
      return message;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = this.ownId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }
}

// --- HTTP -------------------------------------------------------------------------------------

function apiKey() {
  try {
    return localStorage.getItem(API_KEY_STORAGE) || '';
  } catch {
    return ''; // storage disabled
  }
}

/** fetch() of an API path (relative to the page, so a path prefix in front of pdfq works). */
function api(path, { headers = {}, ...options } = {}) {
  const key = apiKey();
  const all = { Accept: 'application/json', ...headers };
  if (key) all.Authorization = `Bearer ${key}`;
  return fetch(new URL(path, document.baseURI), { ...options, headers: all });
}

/** The `{code, message}` of a refusal (`{"error": {...}}`), whatever the body holds. */
async function errorOf(response) {
  const error = { code: `http_${response.status}`, message: response.statusText || 'request failed' };
  try {
    const body = await response.json();
    if (body && typeof body.error === 'object' && body.error) {
      if (body.error.code) error.code = String(body.error.code);
      if (body.error.message) error.message = String(body.error.message);
    }
  } catch {
    // not JSON: keep the status
  }
  return error;
}

function networkError(error) {
  return { code: 'network_error', message: `the server could not be reached (${error.message})` };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const isAbort = (error) => error && error.name === 'AbortError';

// --- Jobs -----------------------------------------------------------------------------------

const jobs = new Map(); // key (job id, or a local key while uploading) → entry
let nextCursor = null;
let loadedOlder = false;
let localKeys = 0;
let $ = null; // the page's elements, once started

function newEntry(fields) {
  const el = $.template.content.firstElementChild.cloneNode(true);
  const entry = {
    key: fields.id || `local-${(localKeys += 1)}`,
    id: null,
    filename: '',
    sizeBytes: null,
    status: 'queued',
    progress: { done: 0, total: null },
    error: null,
    attempts: 0,
    dedupeOf: null,
    createdAt: null,
    sortKey: 0,
    ended: false, // set only by a whole job in a terminal state (the stream's `job` message)
    ocrPages: new Set(),
    lastEventId: '', // the largest event id seen: where a new connection resumes
    seenEvents: new Set(), // a resumed stream may repeat events: each is taken once
    retryMs: DEFAULT_RETRY_MS,
    following: false,
    controller: null,
    streamError: null,
    gone: false,
    el,
    parts: {
      name: el.querySelector('[data-testid="job-name"]'),
      status: el.querySelector('[data-testid="job-status"]'),
      meta: el.querySelector('[data-testid="job-meta"]'),
      progress: el.querySelector('[data-testid="job-progress"]'),
      progressText: el.querySelector('[data-testid="job-progress-text"]'),
      error: el.querySelector('[data-testid="job-error"]'),
      errorCode: el.querySelector('[data-testid="job-error-code"]'),
      errorMessage: el.querySelector('[data-testid="job-error-message"]'),
    },
    ...fields,
  };
  el.dataset.key = entry.key;
  el.dataset.live = 'false';
  jobs.set(entry.key, entry);
  return entry;
}

/** Take the state of a whole job (from a list, an action's answer or the stream's end). */
function applyJob(entry, job) {
  if (entry.key !== job.id) {
    // The list may have shown this job before its upload's answer came: keep one row.
    const twin = jobs.get(job.id);
    if (twin && twin !== entry) removeEntry(twin);
    jobs.delete(entry.key);
    entry.key = job.id;
    entry.el.dataset.key = job.id;
    jobs.set(job.id, entry);
  }
  entry.id = job.id;
  entry.filename = job.filename;
  entry.sizeBytes = job.size_bytes;
  entry.status = job.status;
  entry.progress = {
    done: job.progress?.pages_done ?? 0,
    total: job.progress?.pages_total ?? null,
  };
  entry.error = job.error || null;
  entry.attempts = job.attempts || 0;
  entry.dedupeOf = job.dedupe_of || null;
  entry.createdAt = job.created_at || entry.createdAt;
  entry.ended = TERMINAL.has(job.status);
  entry.streamError = null;
  render(entry);
}

function formatBytes(bytes) {
  if (bytes == null) return '';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB'];
  let value = bytes;
  let unit = -1;
  do {
    value /= 1000;
    unit += 1;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatTime(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return '';
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

const STATUS_LABELS = {
  uploading: 'uploading',
  waiting: 'waiting',
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'canceled',
  refused: 'refused',
};

function render(entry) {
  const { el, parts } = entry;
  const name = entry.filename || 'unnamed.pdf';
  el.dataset.status = entry.status;
  if (entry.id) el.dataset.jobId = entry.id;
  parts.name.textContent = name;
  parts.name.title = name;
  parts.status.textContent = STATUS_LABELS[entry.status] || entry.status;
  parts.status.className = `badge status-${entry.status}`;

  const meta = [formatBytes(entry.sizeBytes), formatTime(entry.createdAt)];
  if (entry.ocrPages.size) meta.push(`${entry.ocrPages.size} OCR page${entry.ocrPages.size > 1 ? 's' : ''}`);
  if (entry.attempts > 1) meta.push(`attempt ${entry.attempts}`);
  if (entry.dedupeOf) meta.push('same file and options as an earlier job');
  if (entry.streamError && !entry.ended) meta.push(`live updates paused: ${entry.streamError.message}`);
  parts.meta.textContent = meta.filter(Boolean).join(' · ');

  const { done, total } = entry.progress;
  const bar = parts.progress;
  bar.setAttribute('aria-label', `Progress of ${name}`);
  if (total != null && total > 0) {
    bar.max = total;
    bar.value = Math.min(done, total);
    parts.progressText.textContent = `${done} / ${total} page${total === 1 ? '' : 's'}`;
  } else if (entry.status === 'succeeded') {
    bar.max = 1;
    bar.value = 1;
    parts.progressText.textContent = total === 0 ? 'no pages' : 'done';
  } else if (entry.status === 'running' || entry.status === 'uploading') {
    bar.removeAttribute('value'); // indeterminate
    parts.progressText.textContent = entry.status === 'uploading' ? 'uploading…' : 'starting…';
  } else {
    bar.max = 1;
    bar.value = 0;
    parts.progressText.textContent = entry.status === 'queued' ? 'waiting' : '';
  }
  // Nothing to show for a job refused on upload, or one that ended before its first page.
  bar.parentElement.hidden =
    entry.status === 'refused' || (['failed', 'canceled'].includes(entry.status) && !done);

  const error = ['failed', 'canceled', 'refused', 'waiting'].includes(entry.status) ? entry.error : null;
  parts.error.hidden = !error;
  parts.errorCode.textContent = error ? error.code : '';
  parts.errorMessage.textContent = error ? error.message : '';

  const show = (action, visible) => {
    const button = el.querySelector(`[data-action="${action}"]`);
    button.hidden = !visible;
    button.setAttribute('aria-label', `${button.textContent.trim()}: ${name}`);
  };
  show('open', entry.status === 'succeeded');
  show('retry', Boolean(entry.id) && (entry.status === 'failed' || entry.status === 'canceled'));
  show('cancel', Boolean(entry.id) && (entry.status === 'queued' || entry.status === 'running'));
  show('dismiss', entry.status === 'refused');
}

/** Put the list in order, newest first, and say when it is empty. */
function placeAll() {
  const ordered = [...jobs.values()].sort((a, b) => b.sortKey - a.sortKey);
  const current = [...$.list.children];
  if (ordered.some((entry, i) => current[i] !== entry.el) || current.length !== ordered.length) {
    $.list.replaceChildren(...ordered.map((entry) => entry.el));
  }
  $.empty.hidden = ordered.length > 0;
}

function removeEntry(entry) {
  entry.following = false;
  entry.controller?.abort();
  jobs.delete(entry.key);
  entry.el.remove();
  placeAll();
}

function notify(message, element = $.notice) {
  element.textContent = message;
  element.hidden = !message;
}

/** Load a page of recent jobs and follow those that have not ended. */
async function loadJobs({ older = false } = {}) {
  const params = new URLSearchParams({ limit: String(LIST_LIMIT) });
  if (older && nextCursor) params.set('cursor', nextCursor);
  let response;
  try {
    response = await api(`v1/jobs?${params}`);
  } catch (error) {
    notify(`Could not list the jobs: ${networkError(error).message}`);
    return;
  }
  if (!response.ok) {
    const error = await errorOf(response);
    notify(`Could not list the jobs: ${error.message} (${error.code})`);
    return;
  }
  const page = await response.json();
  if (older) loadedOlder = true;
  if (older || !loadedOlder) nextCursor = page.next_cursor || null;
  $.more.hidden = !nextCursor;
  notify('');
  for (const job of page.items || []) {
    let entry = jobs.get(job.id);
    if (!entry) {
      entry = newEntry({ id: job.id, sortKey: Date.parse(job.created_at) || 0 });
      applyJob(entry, job);
    } else if (!entry.following) {
      applyJob(entry, job);
    }
    if (!entry.ended) streams.follow(entry);
  }
  placeAll();
}

// --- Live progress ----------------------------------------------------------------------------

class StreamPool {
  constructor(limit) {
    this.limit = limit;
    this.active = new Set();
    this.waiting = [];
    this.stopped = false;
  }

  follow(entry) {
    if (this.stopped || entry.following || entry.ended || !entry.id) return;
    entry.following = true;
    entry.el.dataset.live = 'true';
    this.waiting.push(entry);
    this.pump();
  }

  pump() {
    while (this.active.size < this.limit && this.waiting.length) {
      const entry = this.waiting.shift();
      if (!entry.following) continue;
      this.active.add(entry);
      followJob(entry)
        .catch((error) => console.warn('pdfq: following a job stopped', error))
        .finally(() => {
          this.active.delete(entry);
          const fatal = entry.gone || entry.streamError?.fatal;
          entry.following = false;
          entry.controller = null;
          entry.el.dataset.live = 'false';
          // Retried while the stream was closing: follow it again.
          if (!fatal && !entry.ended && jobs.get(entry.key) === entry) this.follow(entry);
          this.pump();
        });
    }
  }

  stopAll() {
    this.stopped = true;
    for (const entry of [...this.active, ...this.waiting]) {
      entry.following = false;
      entry.el.dataset.live = 'false';
      entry.controller?.abort();
    }
    this.waiting = [];
  }
}

const streams = new StreamPool(MAX_STREAMS);

/** Follow one job's event stream until its final `job` message, reconnecting when it drops. */
async function followJob(entry) {
  let failures = 0;
  while (entry.following && !entry.ended && !entry.gone) {
    const outcome = await streamOnce(entry);
    if (outcome === 'stop') return;
    if (outcome === 'ended') continue;
    if (outcome === 'stalled') {
      await reloadJob(entry); // shows the job as it is, even while the stream is stuck
      continue;
    }
    failures = outcome === 'dropped-after-messages' ? 0 : failures + 1;
    const pause = Math.min(entry.retryMs * 2 ** Math.max(0, failures - 1), MAX_RETRY_MS);
    await sleep(pause);
  }
}

/** One connection to the stream: 'ended' (the job message came), 'stop', 'stalled' or a drop. */
async function streamOnce(entry) {
  const controller = new AbortController();
  entry.controller = controller;
  let stalled = false;
  let watchdog = null;
  const heardFrom = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, STALL_MS);
  };
  heardFrom();
  try {
    return await readStream(entry, controller, () => stalled, heardFrom);
  } finally {
    clearTimeout(watchdog);
  }
}

async function readStream(entry, controller, isStalled, heardFrom) {
  const headers = { Accept: 'text/event-stream' };
  if (entry.lastEventId) headers['Last-Event-ID'] = entry.lastEventId;
  let response;
  try {
    response = await api(`v1/jobs/${encodeURIComponent(entry.id)}/events`, {
      headers,
      signal: controller.signal,
      cache: 'no-store',
    });
  } catch (error) {
    if (isStalled()) return 'stalled';
    if (isAbort(error)) return 'stop';
    entry.streamError = networkError(error);
    render(entry);
    return 'dropped';
  }
  if (response.status === 404) {
    entry.gone = true;
    removeEntry(entry);
    return 'stop';
  }
  const type = response.headers.get('content-type') || '';
  if (!response.ok || !type.startsWith('text/event-stream')) {
    const error = await errorOf(response);
    error.fatal = response.status === 401 || response.status === 403;
    entry.streamError = error;
    render(entry);
    if (error.fatal) notify(`Live updates refused: ${error.message} (${error.code}). Check the API key.`);
    return error.fatal ? 'stop' : 'dropped';
  }

  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let received = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      heardFrom();
      const messages = done ? parser.end() : parser.push(value);
      if (parser.retry != null) entry.retryMs = Math.min(parser.retry, MAX_RETRY_MS);
      for (const message of messages) {
        received = true;
        if (entry.streamError) entry.streamError = null;
        if (message.ownId) {
          if (entry.seenEvents.has(message.ownId)) continue;
          entry.seenEvents.add(message.ownId);
          if (Number(message.ownId) > Number(entry.lastEventId || 0)) {
            entry.lastEventId = message.ownId;
          }
        }
        handleMessage(entry, message);
        if (message.event === 'job' || entry.gone) {
          reader.cancel().catch(() => {});
          return entry.gone ? 'stop' : 'ended';
        }
      }
      if (done) return received ? 'dropped-after-messages' : 'dropped';
    }
  } catch (error) {
    if (isStalled()) return 'stalled';
    if (isAbort(error) || !entry.following) return 'stop';
    return received ? 'dropped-after-messages' : 'dropped';
  }
}

function handleMessage(entry, message) {
  let data;
  try {
    data = JSON.parse(message.data);
  } catch {
    return; // not ours
  }
  if (!data || typeof data !== 'object') return;
  const details = data.data && typeof data.data === 'object' ? data.data : {};
  switch (message.event) {
    case 'job':
      applyJob(entry, data);
      if (jobs.get(entry.key) === entry && $.result.dataset.jobId === entry.id) refreshOpenResult(entry);
      return;
    case 'progress':
      entry.progress = {
        done: data.pages_done ?? entry.progress.done,
        total: data.pages_total ?? entry.progress.total,
      };
      if (entry.status === 'queued') entry.status = 'running';
      break;
    case 'page':
      if (data.method === 'ocr') entry.ocrPages.add(data.number);
      break;
    case 'started':
      entry.status = 'running';
      entry.error = null;
      if (typeof details.attempt === 'number') entry.attempts = details.attempt;
      break;
    case 'scanned':
      if (typeof details.pages === 'number' && entry.progress.total == null) {
        entry.progress = { ...entry.progress, total: details.pages };
      }
      break;
    case 'retried':
      entry.status = 'queued';
      entry.error = null;
      break;
    case 'succeeded':
      entry.status = 'succeeded';
      entry.error = null;
      break;
    case 'failed':
      entry.status = 'failed';
      entry.error = { code: String(details.code || 'internal'), message: String(details.message || '') };
      break;
    case 'canceled':
      entry.status = 'canceled';
      entry.error = { code: 'canceled', message: 'canceled by request' };
      break;
    case 'deleted':
      entry.gone = true;
      removeEntry(entry);
      return;
    default:
      return; // received, stored, extracted, page_ocr, webhook_…: nothing to show
  }
  render(entry);
}

// --- Uploads ----------------------------------------------------------------------------------

const uploads = { queue: [], running: 0 };

function addFiles(files) {
  const list = [...files];
  if (!list.length) return;
  const now = Date.now();
  const options = { ocr: $.ocr.value, languages: $.languages.value.trim() };
  list.forEach((file, index) => {
    const entry = newEntry({
      filename: file.name,
      sizeBytes: file.size,
      status: 'uploading',
      createdAt: new Date().toISOString(),
      sortKey: now + (list.length - index) / list.length, // the selection's order, on top
    });
    render(entry);
    uploads.queue.push({ entry, file, options });
  });
  placeAll();
  pumpUploads();
}

function pumpUploads() {
  while (uploads.running < MAX_UPLOADS && uploads.queue.length) {
    const task = uploads.queue.shift();
    uploads.running += 1;
    upload(task)
      .catch((error) => refuse(task.entry, { code: 'upload_failed', message: String(error) }))
      .finally(() => {
        uploads.running -= 1;
        pumpUploads();
      });
  }
}

function refuse(entry, error) {
  entry.status = 'refused';
  entry.error = error;
  entry.ended = true;
  render(entry);
}

async function upload({ entry, file, options }) {
  for (let attempt = 1; ; attempt += 1) {
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('ocr', options.ocr);
    if (options.languages) form.append('languages', options.languages);
    let response;
    try {
      response = await api('v1/jobs', { method: 'POST', body: form });
    } catch (error) {
      refuse(entry, networkError(error));
      return;
    }
    if (response.ok) {
      applyJob(entry, await response.json());
      streams.follow(entry);
      return;
    }
    const error = await errorOf(response);
    if (response.status === 429 && attempt < QUEUE_FULL_ATTEMPTS) {
      const seconds = Number(response.headers.get('Retry-After')) || 2;
      entry.status = 'waiting';
      entry.error = { code: error.code, message: `${error.message} — trying again in ${seconds} s` };
      render(entry);
      await sleep(seconds * 1000);
      entry.status = 'uploading';
      render(entry);
      continue;
    }
    refuse(entry, error);
    return;
  }
}

// --- Actions on jobs --------------------------------------------------------------------------

async function act(entry, action) {
  let response;
  try {
    response = await api(`v1/jobs/${encodeURIComponent(entry.id)}/${action}`, { method: 'POST' });
  } catch (error) {
    notify(`Could not ${action} ${entry.filename}: ${networkError(error).message}`);
    return;
  }
  if (!response.ok) {
    const error = await errorOf(response);
    notify(`Could not ${action} ${entry.filename}: ${error.message} (${error.code})`);
    if (response.status === 409) await reloadJob(entry);
    return;
  }
  notify('');
  if (action === 'retry') entry.ocrPages.clear();
  applyJob(entry, await response.json());
  streams.follow(entry); // a retried job runs again; a canceled one's stream ends by itself
}

async function reloadJob(entry) {
  try {
    const response = await api(`v1/jobs/${encodeURIComponent(entry.id)}`);
    if (response.ok) applyJob(entry, await response.json());
  } catch {
    // the notice already says what went wrong
  }
}

function onListClick(event) {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const entry = jobs.get(button.closest('li').dataset.key);
  if (!entry) return;
  const action = button.dataset.action;
  if (action === 'open') openResult(entry);
  else if (action === 'dismiss') removeEntry(entry);
  else {
    button.disabled = true; // one request per click
    act(entry, action).finally(() => {
      button.disabled = false;
    });
  }
}

// --- Results ----------------------------------------------------------------------------------

let opened = { entry: null, token: 0 };

function resultPath(id, kind) {
  const base = `v1/jobs/${encodeURIComponent(id)}`;
  return {
    json: { path: `${base}/result?format=json`, suffix: '.json' },
    markdown: { path: `${base}/result?format=markdown`, suffix: '.md' },
    text: { path: `${base}/result?format=text`, suffix: '.txt' },
    csv: { path: `${base}/tables.csv`, suffix: '-tables.csv' },
  }[kind];
}

function selectTab(name, focus = false) {
  for (const tab of $.tabs) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(tab.getAttribute('aria-controls')).hidden = !selected;
    if (selected && focus) tab.focus();
  }
}

function onTabKey(event) {
  const names = $.tabs.map((tab) => tab.id.slice(4));
  const current = names.indexOf(event.currentTarget.id.slice(4));
  const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -current, End: names.length - 1 - current };
  if (!(event.key in moves)) return;
  event.preventDefault();
  selectTab(names[(current + moves[event.key] + names.length) % names.length], true);
}

function refreshOpenResult(entry) {
  if (opened.entry === entry && entry.status !== 'succeeded') closeResult();
}

function closeResult() {
  opened = { entry: null, token: opened.token + 1 };
  $.result.hidden = true;
  delete $.result.dataset.jobId;
  document.body.classList.remove('has-result');
}

function emptyNote(text, testid) {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = text;
  if (testid) p.dataset.testid = testid;
  return p;
}

async function openResult(entry) {
  const token = opened.token + 1;
  opened = { entry, token };
  $.result.hidden = false;
  $.result.dataset.jobId = entry.id;
  $.result.dataset.state = 'loading';
  document.body.classList.add('has-result');
  $.resultTitle.textContent = entry.filename || 'Result';
  $.resultMeta.textContent = 'Loading…';
  notify('', $.resultNotice);
  $.markdown.replaceChildren();
  $.pages.replaceChildren();
  $.tables.replaceChildren();
  selectTab('markdown');
  $.resultTitle.focus({ preventScroll: true });
  $.result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });

  const fetchPart = async (kind) => {
    try {
      const response = await api(resultPath(entry.id, kind).path);
      if (!response.ok) return { error: await errorOf(response) };
      return { body: kind === 'json' ? await response.json() : await response.text() };
    } catch (error) {
      return { error: networkError(error) };
    }
  };
  const [markdown, json] = await Promise.all([fetchPart('markdown'), fetchPart('json')]);
  if (opened.token !== token) return; // another result was opened meanwhile

  const problem = markdown.error || json.error;
  if (problem) notify(`Could not load the result: ${problem.message} (${problem.code})`, $.resultNotice);
  if (markdown.body !== undefined) {
    if (markdown.body.trim()) $.markdown.innerHTML = renderMarkdown(markdown.body);
    else $.markdown.replaceChildren(emptyNote('This document has no text.'));
  }
  if (json.body) {
    const result = json.body;
    const pages = Array.isArray(result.pages) ? result.pages : [];
    const ocr = pages.filter((page) => page.method === 'ocr').length;
    const tables = pages.reduce((sum, page) => sum + (page.tables?.length || 0), 0);
    const title = String(result.metadata?.title || '').trim();
    const named = title && !PLACEHOLDER_TITLES.has(title.toLowerCase()) && title !== entry.filename;
    $.resultMeta.textContent = [
      named ? `“${title}”` : '',
      `${result.page_count} page${result.page_count === 1 ? '' : 's'}`,
      pages.length !== result.page_count ? `${pages.length} processed` : '',
      ocr ? `${ocr} by OCR` : '',
      `${tables} table${tables === 1 ? '' : 's'}`,
    ]
      .filter(Boolean)
      .join(' · ');
    renderPages(pages);
    renderTables(pages);
  } else {
    $.resultMeta.textContent = '';
  }
  $.result.dataset.state = problem ? 'error' : 'ready';
}

function renderPages(pages, from = 0) {
  $.pages.querySelector('.more-pages')?.remove();
  if (!pages.length) {
    $.pages.replaceChildren(emptyNote('No pages.'));
    return;
  }
  const fragment = document.createDocumentFragment();
  for (const page of pages.slice(from, from + PAGES_PER_STEP)) {
    const article = document.createElement('article');
    article.className = 'page';
    article.dataset.testid = 'page';
    article.dataset.page = String(page.number);
    const head = document.createElement('h3');
    head.textContent = `Page ${page.number} `;
    const method = document.createElement('span');
    method.className = `badge method-${page.method === 'ocr' ? 'ocr' : 'text'}`;
    method.dataset.testid = 'page-method';
    method.textContent = page.method === 'ocr' ? 'OCR' : 'text layer';
    head.append(method);
    article.append(head);
    if (page.method === 'ocr') {
      const details = [page.ocr_provider, page.ocr_reason];
      if (typeof page.ocr_confidence === 'number') {
        details.push(`confidence ${Math.round(page.ocr_confidence * 100)}%`);
      }
      const note = document.createElement('p');
      note.className = 'hint';
      note.textContent = details.filter(Boolean).join(' · ');
      article.append(note);
    }
    for (const warning of page.warnings || []) {
      const p = document.createElement('p');
      p.className = 'warning';
      p.textContent = `⚠ ${warning}`;
      article.append(p);
    }
    const text = document.createElement('pre');
    text.className = 'page-text';
    text.dataset.testid = 'page-text';
    text.textContent = page.text || '(no text)';
    article.append(text);
    fragment.append(article);
  }
  $.pages.append(fragment);
  const shown = Math.min(from + PAGES_PER_STEP, pages.length);
  if (shown < pages.length) {
    const more = document.createElement('button');
    more.type = 'button';
    more.className = 'button small more-pages';
    more.textContent = `Show more pages (${shown} of ${pages.length} shown)`;
    more.addEventListener('click', () => renderPages(pages, shown));
    $.pages.append(more);
  }
}

function renderTables(pages) {
  const fragment = document.createDocumentFragment();
  for (const page of pages) {
    (page.tables || []).forEach((table, index) => {
      const rows = Array.isArray(table.rows) ? table.rows : [];
      if (!rows.length) return;
      const figure = document.createElement('figure');
      figure.className = 'table-figure';
      figure.dataset.testid = 'result-table';
      const caption = document.createElement('figcaption');
      caption.textContent = `Page ${page.number}, table ${index + 1}`;
      const scroll = document.createElement('div');
      scroll.className = 'table-scroll';
      const element = document.createElement('table');
      const width = Math.max(...rows.map((row) => row.length));
      rows.forEach((row, r) => {
        const section = r === 0 ? element.createTHead() : element.tBodies[0] || element.createTBody();
        const tr = section.insertRow();
        for (let k = 0; k < width; k += 1) {
          const cell = document.createElement(r === 0 ? 'th' : 'td');
          cell.textContent = row[k] ?? '';
          tr.append(cell);
        }
      });
      scroll.append(element);
      figure.append(caption, scroll);
      fragment.append(figure);
    });
  }
  if (!fragment.childNodes.length) fragment.append(emptyNote('No tables found.'));
  $.tables.replaceChildren(fragment);
}

async function download(kind) {
  const entry = opened.entry;
  if (!entry) return;
  const { path, suffix } = resultPath(entry.id, kind);
  let response;
  try {
    response = await api(path, { headers: { Accept: '*/*' } });
  } catch (error) {
    notify(`Download failed: ${networkError(error).message}`, $.resultNotice);
    return;
  }
  if (!response.ok) {
    const error = await errorOf(response);
    notify(`Download failed: ${error.message} (${error.code})`, $.resultNotice);
    return;
  }
  // A plain link cannot send the Authorization header: fetch, then hand the browser a Blob.
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = href;
  link.download = `${(entry.filename || entry.id).replace(/\.pdf$/i, '')}${suffix}`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

// --- Start ------------------------------------------------------------------------------------

function setUpDropZone() {
  const zone = $.dropZone;
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes('Files');
  zone.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dragging');
  });
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    addFiles(event.dataTransfer?.files || []);
  });
  // A file dropped beside the zone must not replace the page with the PDF.
  window.addEventListener('dragover', (event) => {
    if (hasFiles(event) && !zone.contains(event.target)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'none';
    }
  });
  window.addEventListener('drop', (event) => {
    if (!zone.contains(event.target)) event.preventDefault();
  });
}

function start() {
  const byId = (id) => document.getElementById(id);
  $ = {
    template: byId('job-template'),
    list: byId('jobs'),
    empty: byId('jobs-empty'),
    more: byId('more'),
    notice: byId('notice'),
    fileInput: byId('file-input'),
    dropZone: document.querySelector('.drop-zone'),
    ocr: byId('ocr'),
    languages: byId('languages'),
    apiKey: byId('api-key'),
    result: byId('result'),
    resultTitle: byId('result-heading'),
    resultMeta: byId('result-meta'),
    resultNotice: byId('result-notice'),
    markdown: byId('panel-markdown'),
    pages: byId('panel-pages'),
    tables: byId('panel-tables'),
    tabs: [...document.querySelectorAll('[role="tab"]')],
  };

  $.apiKey.value = apiKey();
  byId('api-key-form').addEventListener('submit', (event) => {
    event.preventDefault(); // Enter in the field: keep the key, stay on the page
    $.apiKey.dispatchEvent(new Event('change'));
  });
  $.apiKey.addEventListener('change', () => {
    const key = $.apiKey.value.trim();
    if (key === apiKey()) return;
    try {
      if (key) localStorage.setItem(API_KEY_STORAGE, key);
      else localStorage.removeItem(API_KEY_STORAGE);
    } catch {
      notify('This browser does not let the page keep the API key.');
    }
    loadJobs();
  });
  $.fileInput.addEventListener('change', () => {
    addFiles($.fileInput.files);
    $.fileInput.value = ''; // the same file can be chosen again
  });
  setUpDropZone();
  $.list.addEventListener('click', onListClick);
  byId('refresh').addEventListener('click', () => loadJobs());
  $.more.addEventListener('click', () => loadJobs({ older: true }));
  byId('result-close').addEventListener('click', closeResult);
  for (const tab of $.tabs) {
    tab.addEventListener('click', () => selectTab(tab.id.slice(4)));
    tab.addEventListener('keydown', onTabKey);
  }
  for (const button of document.querySelectorAll('[data-download]')) {
    button.addEventListener('click', () => download(button.dataset.download));
  }
  window.addEventListener('pagehide', () => streams.stopAll());
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted) return; // back from the history cache: follow again
    streams.stopped = false;
    loadJobs();
  });
  loadJobs().finally(() => {
    document.body.dataset.ready = 'true'; // the list is in (or its failure shown)
  });
}

if (typeof document !== 'undefined' && document.getElementById('job-template')) start();
