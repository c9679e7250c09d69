// The Ingest tab: uploads (files, folders) and server paths as jobs; progress, rejections, cancel,
// and each ended job's failures with a Retry button (a new job that runs only those again).

import { call, getJson, needsKey } from './api.js';
import { $, h, clear, setStatus, formatBytes } from './dom.js';

const MAX_ITEMS = 1000;
const ACTIVE = new Set(['queued', 'running']);
const rejectedByJob = new Map();
let info = null;
let timer = null;

export function initIngest(serverInfo) {
  info = serverInfo || info;
  const zone = $('#dropzone');
  if (!zone.dataset.wired) {
    zone.dataset.wired = '1';
    zone.addEventListener('dragover', (event) => {
      event.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('keydown', (event) => {
      if (event.target === zone && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        $('#ingest-files').click();
      }
    });
    zone.addEventListener('drop', async (event) => {
      event.preventDefault();
      zone.classList.remove('over');
      upload(await droppedFiles(event.dataTransfer));
    });
    for (const id of ['#ingest-files', '#ingest-folder']) {
      const input = $(id);
      input.addEventListener('change', () => {
        upload([...input.files]);
        input.value = '';
      });
    }
    $('#paths-form').addEventListener('submit', (event) => {
      event.preventDefault();
      ingestPaths();
    });
  }
  refreshJobs();
}

/** Files of a drop, folders walked recursively. */
async function droppedFiles(transfer) {
  const entries = [...(transfer?.items || [])].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...(transfer?.files || [])];
  const files = [];
  for (const entry of entries) await walk(entry, files);
  return files;
}

async function walk(entry, files) {
  if (entry.isFile) {
    files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    return;
  }
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) await walk(child, files);
  }
}

const pathOf = (file) => file.webkitRelativePath || file.name;
const stemOf = (path) => path.replace(/\.[^./]+$/, '');

/**
 * Items of the chosen files: each picture with the text of a same-stem `.txt` beside it (its
 * caption, as `mmrag ingest` reads folders); every other file is sent as it is.
 */
async function itemsOf(files) {
  const pictures = new Set(files.filter((f) => f.type.startsWith('image/')).map((f) => stemOf(pathOf(f))));
  const captions = new Map();
  for (const file of files) {
    const path = pathOf(file);
    if (path.endsWith('.txt') && pictures.has(stemOf(path))) captions.set(stemOf(path), await file.text());
  }
  return files
    .filter((file) => !(pathOf(file).endsWith('.txt') && captions.has(stemOf(pathOf(file)))))
    .map((file) => ({ file, text: captions.get(stemOf(pathOf(file))) || '' }));
}

/** Split items into requests under the server's body cap and item count. */
function batches(items) {
  const cap = Math.max(1024, (info?.max_upload_bytes || 20 * 1024 * 1024) - 64 * 1024);
  const out = [];
  let current = [];
  let size = 0;
  for (const item of items) {
    const bytes = item.file.size + item.text.length * 3 + 512;
    if (current.length && (size + bytes > cap || current.length >= MAX_ITEMS)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += bytes;
  }
  if (current.length) out.push(current);
  return out;
}

async function upload(files) {
  const status = $('#ingest-status');
  if (needsKey()) return setStatus(status, 'Enter an API key to ingest.', true);
  files = files.filter((file) => file.size > 0 || file.name);
  if (!files.length) return setStatus(status, 'No files to send.', true);
  const items = await itemsOf(files);
  const groups = batches(items);
  const problems = [];
  const refused = [];
  let sent = 0;
  for (const [n, group] of groups.entries()) {
    setStatus(status, `Sending ${items.length} items (request ${n + 1} of ${groups.length})…`);
    const form = new FormData();
    for (const { file, text } of group) {
      form.append('files', file, pathOf(file));
      form.append('texts', text);
    }
    try {
      const accepted = await (await call('/v1/ingest', { method: 'POST', body: form })).json();
      rejectedByJob.set(accepted.job_id, accepted.rejected);
      refused.push(...accepted.rejected);
      sent += accepted.accepted;
    } catch (err) {
      if (err.body?.rejected) refused.push(...err.body.rejected);
      else problems.push(err.message);
    }
  }
  const size = formatBytes(files.reduce((total, file) => total + file.size, 0));
  const summary = `${sent} of ${items.length} items (${size}) queued` +
    (refused.length ? `, ${refused.length} refused.` : '.');
  setStatus(status, [summary, ...problems].join(' '), problems.length > 0 || sent === 0);
  clear($('#ingest-refused'), refused.map((r) => h('li', {}, `${r.source || `item ${r.index}`}: ${r.reason}`)));
  refreshJobs();
}

async function ingestPaths() {
  const status = $('#ingest-status');
  if (needsKey()) return setStatus(status, 'Enter an API key to ingest.', true);
  const paths = $('#paths').value.split('\n').map((p) => p.trim()).filter(Boolean);
  if (!paths.length) return setStatus(status, 'Give at least one server path.', true);
  try {
    const accepted = await (await call('/v1/ingest', { method: 'POST', json: { paths } })).json();
    rejectedByJob.set(accepted.job_id, accepted.rejected || []);
    setStatus(status, `Job ${accepted.job_id} queued.`);
    clear($('#ingest-refused'));
  } catch (err) {
    setStatus(status, `The server refused the paths: ${err.message}`, true);
  }
  refreshJobs();
}

export async function refreshJobs() {
  clearTimeout(timer);
  if (needsKey()) return;
  let jobs;
  try {
    jobs = (await getJson('/v1/ingest?limit=10')).jobs;
  } catch (err) {
    setStatus($('#ingest-status'), err.message, true);
    return;
  }
  clear($('#jobs'), jobs.length ? jobs.map(jobView) : h('li', {}, 'No jobs yet.'));
  const visible = !$('#panel-ingest').hidden;
  if (visible && jobs.some((job) => ACTIVE.has(job.state))) timer = setTimeout(refreshJobs, 700);
}

function jobView(job) {
  const done = job.progress.seen;
  const total = Math.max(job.items, done);
  const rejected = rejectedByJob.get(job.id) || [];
  const failures = job.report?.failures || [];
  const problems = [
    ...rejected.map((r) => `${r.source || `item ${r.index}`}: ${r.reason} (refused)`),
    ...failures.map((f) => `${f.source || `item ${f.index}`}: ${f.reason}${triesOf(f)}`),
  ];
  const counts = `${done} of ${total} seen · ${job.progress.written} written · ` +
    `${job.progress.unchanged} unchanged · ${job.progress.failed} failed`;
  return h('li', { class: 'job', dataset: { id: job.id, state: job.state } },
    h('div', { class: 'head' },
      h('span', { class: `state ${job.state}` }, job.state),
      h('span', { class: 'id' }, job.id),
      job.retry_of ? h('span', { class: 'retry-of' }, `retry of ${job.retry_of}`) : null,
      h('span', { class: 'spacer' }),
      ACTIVE.has(job.state)
        ? h('button', { type: 'button', class: 'danger', onclick: () => cancel(job.id) }, 'Cancel')
        : null,
      !ACTIVE.has(job.state) && job.retryable
        ? h('button', { type: 'button', class: 'retry', onclick: () => retry(job.id),
          'aria-label': `Retry the failures of job ${job.id}` }, 'Retry')
        : null),
    h('progress', { max: String(total || 1), value: String(job.state === 'done' ? total : done),
      'aria-label': `Progress of job ${job.id}` }),
    h('span', {}, counts),
    job.error ? h('p', { class: 'error' }, job.error) : null,
    problems.length ? h('ul', { 'aria-label': 'Problems' }, problems.map((p) => h('li', {}, p))) : null);
}

/** How many tries a failure took, when it was tried again (transient errors only). */
function triesOf(failure) {
  return failure.attempts > 1 ? ` (after ${failure.attempts} tries)` : '';
}

async function retry(id) {
  const status = $('#ingest-status');
  try {
    const accepted = await (await call(`/v1/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' })).json();
    setStatus(status, accepted.items === null
      ? `Job ${id} queued again as job ${accepted.job_id}.`
      : `${accepted.items} failed item(s) of job ${id} queued again as job ${accepted.job_id}.`);
  } catch (err) {
    setStatus(status, `The retry was refused: ${err.message}`, true);
  }
  refreshJobs();
}

async function cancel(id) {
  try {
    await call(`/v1/ingest/${encodeURIComponent(id)}`, { method: 'DELETE' });
  } catch (err) {
    setStatus($('#ingest-status'), err.message, true);
  }
  refreshJobs();
}
