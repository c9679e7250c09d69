// Hits and items: cards with a bar per signal score, and the detail dialog of one item.

import { call, getJson, keyHeaders, getKey } from './api.js';
import { $, h, clear, shorten } from './dom.js';
import { showImage } from './images.js';

const EAGER = 12;
const ORDER = ['image', 'text', 'passage', 'lexical', 'fused', 'rerank'];

/** Numeric score keys of `hits`, known signals first, then any others the server adds. */
export function scoreKeys(hits) {
  const keys = new Set();
  for (const hit of hits) {
    for (const [key, value] of Object.entries(hit.scores || {})) {
      if (typeof value === 'number' || value === null) keys.add(key);
    }
  }
  const known = ORDER.filter((key) => keys.has(key));
  return [...known, ...[...keys].filter((key) => !ORDER.includes(key)).sort()];
}

/** Per key, the value a full bar stands for: 1 for scores in [0, 1], else the largest seen. */
export function scoreScales(hits) {
  const scales = {};
  for (const key of scoreKeys(hits)) {
    const values = hits.map((hit) => hit.scores?.[key]).filter((v) => typeof v === 'number');
    const top = Math.max(0, ...values.map(Math.abs));
    scales[key] = key === 'fused' || top > 1 ? top || 1 : 1;
  }
  return scales;
}

export function scoreBars(scores, scales) {
  const rows = Object.keys(scales).map((key) => {
    const value = scores?.[key];
    const known = typeof value === 'number';
    const width = known ? Math.max(0, Math.min(1, value / scales[key])) * 100 : 0;
    return h('div', { class: 'score', dataset: { signal: key } },
      h('dt', {}, key),
      h('dd', {},
        h('span', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${width.toFixed(1)}%` })),
        h('span', { class: 'value', title: known ? String(value) : 'no such vector' },
          known ? value.toFixed(3) : '–')));
  });
  return h('dl', { class: 'scores', 'aria-label': 'Scores' }, rows);
}

export function altText(item) {
  const words = shorten(item.text || item.snippet || '', 100);
  const where = item.source ? ` (${item.source})` : '';
  return words ? `Picture: ${words}${where}` : `Picture from ${item.source || item.id}`;
}

let held = null;

/**
 * Hold back the thumbnails built from now on, except the first one asked for at once, until the
 * returned function is called: the best hit's picture then has the server to itself.
 */
export function holdThumbnails() {
  const queue = [];
  held = queue;
  return () => {
    if (held === queue) held = null;
    for (const [img, url] of queue.splice(0)) showImage(img, url);
  };
}

/** The item's picture (lazy unless `eager`: the first rows load at once), or its text. */
export function thumbnail(item, eager = false, first = false) {
  if (item.image_url) {
    const img = h('img', { class: 'thumb', alt: altText(item), loading: eager ? 'eager' : 'lazy' });
    if (held && !first) held.push([img, item.image_url]);
    else showImage(img, item.image_url);
    return img;
  }
  return h('span', { class: 'thumb text' }, shorten(item.text || item.snippet || '(no text)', 300));
}

function title(item) {
  if (item.document?.title) {
    const page = item.page ? `, page ${item.page}` : '';
    const figure = Number.isInteger(item.figure) ? `, figure ${item.figure + 1}` : '';
    return `${item.document.title}${page}${figure}`;
  }
  return item.source || item.external_id || item.id;
}

/** A result card: thumbnail button (opens the item), title, caption, score bars. */
export function hitCard(hit, rank, scales, extra = null) {
  const open = h('button', { type: 'button', class: 'open', onclick: () => openDetail(hit, scales) },
    thumbnail(hit, rank <= EAGER, rank === 1), h('span', { class: 'sr-only' }, `Open result ${rank}`));
  return h('li', { class: 'card', dataset: { id: hit.id } },
    open,
    h('div', { class: 'meta' },
      h('span', { class: 'title' }, `${rank}. ${title(hit)}`),
      hit.text ? h('span', { class: 'caption' }, shorten(hit.text, 140)) : null,
      hit.scores ? scoreBars(hit.scores, scales) : null),
    extra);
}

/** Open the dialog on `item` (a hit, an item, or a citation whose item is fetched by id). */
export async function openDetail(item, scales = null) {
  const dialog = $('#detail');
  const body = $('#detail-body');
  $('#detail-title').textContent = title(item);
  clear(body, h('p', {}, 'Loading…'));
  if (!dialog.open) dialog.showModal();
  let full = item;
  if (!('metadata' in item)) {
    try {
      const fetched = await getJson(`/v1/items/${encodeURIComponent(item.id)}`);
      full = { ...fetched, scores: item.scores, highlights: item.highlights };
    } catch (err) {
      clear(body, h('p', { class: 'error' }, err.message));
      return;
    }
  }
  $('#detail-title').textContent = title(full);
  clear(body, detailView(full, scales || (full.scores ? scoreScales([full]) : null)));
}

function detailView(item, scales) {
  const picture = item.image_url
    ? (() => {
      const img = h('img', { class: 'large', alt: altText(item) });
      showImage(img, item.image_url);
      return marked(img, item.highlights);
    })()
    : null;
  const facts = [
    ['Source', item.source],
    ['Kind', item.kind],
    ['Document', item.document?.title],
    ['Page', item.page ? `${item.page}${item.document?.pages ? ` of ${item.document.pages}` : ''}` : null],
    ['Figure', Number.isInteger(item.figure) ? item.figure + 1 : null],
    ['External id', item.external_id],
    ['Size', item.width && item.height ? `${item.width} × ${item.height} ${item.mime || ''}` : null],
    ['Chunk', item.chunk_count > 1 ? `${item.chunk_index + 1} of ${item.chunk_count}` : null],
    ['Ingested', item.ingested_at],
    ['Id', item.id],
    ...Object.entries(item.metadata || {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  ].filter(([, value]) => value !== null && value !== undefined && value !== '');
  return h('div', { class: 'detail' },
    h('div', {}, picture, item.text ? h('p', { class: 'text' }, item.text) : null),
    h('div', {},
      item.scores && scales ? scoreBars(item.scores, scales) : null,
      h('dl', { class: 'kv' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
      item.document?.id ? documentLink(item) : null));
}

/**
 * The picture with the lines that answered drawn over it: `boxes` are [x0, y0, x1, y1] as
 * fractions of the picture (the API's `highlights`); the wrapper is the picture's own size.
 */
export function marked(img, boxes) {
  if (!Array.isArray(boxes) || !boxes.length) return img;
  const pct = (v) => `${(Math.max(0, Math.min(1, Number(v) || 0)) * 100).toFixed(2)}%`;
  const marks = boxes.filter((b) => Array.isArray(b) && b.length === 4).map(([x0, y0, x1, y1]) =>
    h('span', {
      class: 'highlight',
      'aria-hidden': 'true',
      style: `left:${pct(x0)};top:${pct(y0)};width:${pct(x1 - x0)};height:${pct(y1 - y0)}`,
    }));
  return h('div', { class: 'marked', title: 'Highlighted: the lines that match' }, img, marks);
}

function documentLink(item) {
  const given = item.document.file_url || `/v1/documents/${encodeURIComponent(item.document.id)}/file`;
  const [url] = given.split('#');
  const page = item.page ? `#page=${item.page}` : '';
  const label = item.page ? `Open the document at page ${item.page}` : 'Open the document';
  return h('p', {}, h('a', {
    href: url + page,
    target: '_blank',
    rel: 'noopener',
    onclick: (event) => {
      if (!getKey()) return;
      event.preventDefault();
      openWithKey(url, page);
    },
  }, label));
}

async function openWithKey(url, page) {
  const blob = await (await call(url, { headers: keyHeaders() })).blob();
  window.open(URL.createObjectURL(blob) + page, '_blank', 'noopener');
}

export function wireDialog() {
  const dialog = $('#detail');
  $('[data-close]', dialog).addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close();
  });
}
