// The Sources tab: synced sources (folders, S3 buckets, web sites) with their state; add,
// sync now, remove. Admin keys only: the server answers 403 to others.

import { call, getJson, needsKey } from './api.js';
import { $, h, clear, setStatus } from './dom.js';

let timer = null;

export function initSources() {
  const form = $('#source-form');
  if (!form.dataset.wired) {
    form.dataset.wired = '1';
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      add(form);
    });
  }
  refresh();
  clearInterval(timer);
  timer = setInterval(() => {
    if (location.hash === '#sources') refresh();
    else clearInterval(timer);
  }, 3000);
}

async function refresh() {
  const status = $('#sources-status');
  if (needsKey()) return setStatus(status, 'Enter an admin API key to see the sources.', true);
  try {
    const out = await getJson('/v1/sources');
    clear($('#sources'), out.sources.map(row));
    setStatus(status, out.sources.length ? `${out.sources.length} source(s)` : 'No sources yet.');
  } catch (err) {
    setStatus(status, err.message, true);
  }
}

function when(value) {
  return value ? new Date(value).toLocaleString() : 'never';
}

function row({ config, state }) {
  const counts = `${state.seen} seen · ${state.written} written · ${state.unchanged} unchanged · ` +
    `${state.failed} failed · ${state.moved} moved · ${state.deleted} points deleted`;
  return h('li', { class: 'source', dataset: { source: config.name } },
    h('h3', {}, `${config.name} `, h('span', { class: 'hint' }, `${config.kind} · ${config.location}`)),
    h('p', {}, `Last sync: ${when(state.last_sync_at)} · next run: ${state.next_run_at ? when(state.next_run_at) : (config.kind === 'folder' && config.watch ? 'when files change' : 'on request')}`),
    h('p', {}, counts),
    state.error ? h('p', { class: 'error source-error' }, `Error: ${state.error}`) : null,
    state.errors.length ? h('details', {}, h('summary', {}, `${state.errors.length} object(s) failed`),
      h('ul', {}, state.errors.map((e) => h('li', {}, e)))) : null,
    h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => sync(config.name), 'aria-label': `Sync ${config.name} now` }, 'Sync now'),
      h('button', { type: 'button', class: 'danger', onclick: () => remove(config.name), 'aria-label': `Remove ${config.name}` }, 'Remove')));
}

async function add(form) {
  const data = new FormData(form);
  const body = { name: data.get('name'), kind: data.get('kind'), location: data.get('location') };
  if (data.get('collection')) body.collection = data.get('collection');
  if (data.get('schedule')) body.schedule_s = Number(data.get('schedule'));
  try {
    await call('/v1/sources', { method: 'POST', json: body });
    setStatus($('#sources-status'), `Source ${body.name} added.`);
    form.reset();
    refresh();
  } catch (err) {
    setStatus($('#sources-status'), err.message, true);
  }
}

async function sync(name) {
  try {
    const out = await (await call(`/v1/sources/${encodeURIComponent(name)}/sync`, { method: 'POST' })).json();
    setStatus($('#sources-status'), `Sync of ${name} queued (job ${out.job_id}).`);
    refresh();
  } catch (err) {
    setStatus($('#sources-status'), err.message, true);
  }
}

async function remove(name) {
  if (!window.confirm(`Remove the source ${name}? Its items stay in the collection.`)) return;
  try {
    await call(`/v1/sources/${encodeURIComponent(name)}`, { method: 'DELETE' });
    setStatus($('#sources-status'), `Source ${name} removed.`);
    refresh();
  } catch (err) {
    setStatus($('#sources-status'), err.message, true);
  }
}
