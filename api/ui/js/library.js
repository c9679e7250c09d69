// The Library tab: the collection's figures, items page by page, delete.

import { call, getJson, needsKey } from './api.js';
import { $, h, clear, setStatus } from './dom.js';
import { hitCard } from './hits.js';

const PAGE = 24;
const KINDS = ['image', 'text', 'page', 'figure', 'passage'];
let cursors = [null];
let page = 0;
let next = null;

export function initLibrary() {
  const kind = $('#library-kind');
  if (!kind.dataset.wired) {
    kind.dataset.wired = '1';
    for (const name of KINDS) kind.append(h('option', { value: name }, name));
    kind.addEventListener('change', () => restart());
    $('#library-prev').addEventListener('click', () => show(page - 1));
    $('#library-next').addEventListener('click', () => {
      if (next) {
        cursors[page + 1] = next;
        show(page + 1);
      }
    });
  }
  restart();
}

function restart() {
  cursors = [null];
  show(0);
  figures();
}

async function figures() {
  if (needsKey()) return;
  try {
    const stats = await getJson('/v1/stats');
    const rows = [
      ['Collection', stats.collection],
      ['Points', stats.points],
      ['With a picture', stats.with_image],
      ['With text', stats.with_text],
      ['Store', stats.store],
    ];
    clear($('#collection'), rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, String(v)))));
  } catch (err) {
    setStatus($('#library-status'), err.message, true);
  }
}

async function show(n) {
  const status = $('#library-status');
  if (needsKey()) return setStatus(status, 'Enter an API key to browse.', true);
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (cursors[n]) params.set('cursor', cursors[n]);
  const kind = $('#library-kind').value;
  if (kind) params.set('kind', kind);
  try {
    const out = await getJson(`/v1/items?${params}`);
    page = n;
    next = out.next;
    const start = n * PAGE;
    clear($('#library-items'), out.items.map((item, i) => hitCard(item, start + i + 1, {}, actions(item))));
    const end = start + out.items.length;
    setStatus(status, out.total ? `Items ${start + 1}–${end} of ${out.total}` : 'The collection is empty.');
    $('#library-prev').disabled = n === 0;
    $('#library-next').disabled = !next;
  } catch (err) {
    setStatus(status, err.message, true);
  }
}

function actions(item) {
  return h('div', { class: 'actions' }, h('button', {
    type: 'button',
    class: 'danger',
    'aria-label': `Delete ${item.source || item.id}`,
    onclick: () => remove(item),
  }, 'Delete'));
}

async function remove(item) {
  if (!window.confirm(`Delete ${item.source || item.id} from the collection?`)) return;
  try {
    await call(`/v1/items/${encodeURIComponent(item.id)}`, { method: 'DELETE' });
    setStatus($('#library-status'), `Deleted ${item.source || item.id}.`);
    show(page);
    figures();
  } catch (err) {
    setStatus($('#library-status'), err.message, true);
  }
}
