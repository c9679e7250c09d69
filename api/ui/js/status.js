// The Status tab: health, readiness, the models in use and the store's figures.

import { getJson, needsKey } from './api.js';
import { $, h, clear } from './dom.js';

async function publicJson(path) {
  const response = await fetch(path);
  return { ok: response.ok, body: await response.json() };
}

export async function initStatus(info) {
  const body = $('#status-body');
  clear(body, h('p', {}, 'Loading…'));
  const parts = [];
  try {
    const [health, ready] = await Promise.all([publicJson('/health'), publicJson('/ready')]);
    parts.push(h('h2', {}, 'Service'), table([
      ['Health', health.ok ? 'ok' : 'failing', health.ok],
      ['Version', health.body.version],
      ['Ready', ready.body.status, ready.ok],
      ...Object.entries(ready.body.components || {}).map(([name, c]) =>
        [name, `${c.status}${c.detail ? `: ${c.detail}` : ''}`, c.status === 'ok']),
    ]));
  } catch (err) {
    parts.push(h('p', { class: 'error' }, `The server cannot be reached: ${err.message}`));
  }
  if (needsKey()) {
    parts.push(h('p', {}, 'Enter an API key to see the models and the store.'));
  } else {
    try {
      const [about, stats] = await Promise.all([info ? info : getJson('/v1/info'), getJson('/v1/stats')]);
      parts.push(h('h2', {}, 'Models'), table([
        ['CLIP', `${about.models.clip} (dim ${about.models.dim})`],
        ['Reranker', about.models.reranker],
        ['LLM', `${about.models.llm_backend}${about.models.llm_model ? ` · ${about.models.llm_model}` : ''}`],
      ]));
      parts.push(h('h2', {}, 'Store'), table([
        ['Engine', stats.store],
        ['Collection', stats.collection],
        ['Points', stats.points],
        ['With a picture', stats.with_image],
        ['With text', stats.with_text],
        ['Upload cap', `${Math.round(about.max_upload_bytes / 1024 / 1024)} MB per request`],
      ]));
    } catch (err) {
      parts.push(h('p', { class: 'error' }, err.message));
    }
  }
  clear(body, parts);
}

function table(rows) {
  return h('table', {}, h('tbody', {}, rows.map(([k, v, ok]) => h('tr', {},
    h('th', { scope: 'row' }, k),
    h('td', { class: ok === true ? 'ok' : ok === false ? 'error' : '' }, String(v ?? ''))))));
}
