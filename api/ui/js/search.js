// The Search tab: words and/or a picture, options, a grid of hits with their scores.

import { call, needsKey } from './api.js';
import { $, h, clear, setStatus } from './dom.js';
import { hitCard, holdThumbnails, scoreScales } from './hits.js';
import { picturePicker } from './images.js';

/** Times from pressing Search to the first thumbnail painted (ms), read by tests and bench. */
window.mmragTimings = window.mmragTimings || { firstThumb: [] };

let picker;
let running = null;

export function initSearch(info) {
  picker = picker || picturePicker($('#search-picker'), $('#panel-search'));
  const fusion = $('#fusion');
  if (info && fusion.options.length === 1) {
    for (const mode of info.search.fusion_modes) fusion.append(h('option', { value: mode }, mode));
    fusion.options[0].textContent = `server default (${info.search.fusion})`;
    $('#top-k').max = info.search.max_top_k;
    const fieldset = $('#weights');
    for (const name of info.search.weights) {
      const id = `weight-${name}`;
      const output = h('output', { for: id }, '1.00');
      const range = h('input', {
        type: 'range', id, min: '0', max: '1', step: '0.05', value: '1', dataset: { signal: name },
        oninput: () => { output.textContent = Number(range.value).toFixed(2); },
      });
      fieldset.append(h('div', { class: 'weight' }, h('label', { for: id }, name), range, output));
    }
  }
  const form = $('#search-form');
  if (!form.dataset.wired) {
    form.dataset.wired = '1';
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      runSearch();
    });
    $('#search-picker').addEventListener('picture', () => $('#q').focus());
  }
}

function request() {
  const body = { text: $('#q').value.trim() || null, image: picker.get() };
  const fusion = $('#fusion').value;
  if (fusion) body.fusion = fusion;
  const topK = parseInt($('#top-k').value, 10);
  if (topK > 0) body.top_k = topK;
  const rerank = $('#rerank').value;
  if (rerank) body.rerank = rerank === 'true';
  const filters = $('#filters').value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  if (filters.length) body.filter = filters;
  const diversity = $('#diversity').value;
  if (diversity === 'mmr') body.diversity = { mode: 'mmr', lambda: Number($('#mmr-lambda').value) };
  if (diversity === 'collapse') body.diversity = { mode: 'collapse', field: $('#collapse-field').value.trim() };
  const fairBy = $('#fair-by').value.trim();
  if (fairBy) Object.assign(body, { fair_by: fairBy, fair_target: $('#fair-target').value });
  if ($('#weights-on').checked) {
    body.weights = {};
    for (const range of document.querySelectorAll('#weights input[type="range"]')) {
      body.weights[range.dataset.signal] = Number(range.value);
    }
  }
  return body;
}

export async function runSearch() {
  const status = $('#search-status');
  const results = $('#results');
  if (needsKey()) {
    setStatus(status, 'Enter an API key to search.', true);
    return;
  }
  const body = request();
  if (!body.text && !body.image) {
    setStatus(status, 'Type some words or add a picture.', true);
    return;
  }
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const started = performance.now();
  setStatus(status, 'Searching…');
  try {
    const response = await call('/v1/search', { method: 'POST', json: body, signal: controller.signal });
    const out = await response.json();
    if (controller !== running) return;
    const scales = scoreScales(out.hits);
    const release = holdThumbnails();
    const cards = out.hits.map((hit, i) => hitCard(hit, i + 1, scales, folded(hit)));
    clear(results, cards);
    timeFirstThumb(results, started, release);
    const ms = Math.round(performance.now() - started);
    const note = (out.reranked ? ', reranked' : '') + fairNote(out.fairness);
    setStatus(status, out.hits.length ? `${out.hits.length} hits in ${ms} ms${note}` : 'No hits.');
  } catch (err) {
    if (err.name === 'AbortError') return;
    clear(results);
    setStatus(status, err.message, true);
  }
}

/** "+N like it" under a hit that collapse folded others into; null otherwise. */
function folded(hit) {
  return hit.folded ? h('span', { class: 'hint folded' }, `+${hit.folded} like it`) : null;
}

/** The fair-exposure summary of a search: groups in the top k and the fused score given up. */
function fairNote(fairness) {
  if (!fairness) return '';
  const shares = Object.entries(fairness.shares).map(([group, n]) => `${group} ${n}`).join(', ');
  return `; fair by ${fairness.field}: ${shares} (fused score loss ${(100 * fairness.fused_loss_ratio).toFixed(1)}%)`;
}

/** Record when the first thumbnail is painted; then let the other thumbnails load. */
function timeFirstThumb(results, started, release) {
  const first = results.querySelector('.card:first-child img.thumb');
  if (!first) {
    release();
    return;
  }
  setTimeout(release, 250);
  first.addEventListener('error', release, { once: true });
  const done = () => {
    release();
    requestAnimationFrame(() => {
      window.mmragTimings.firstThumb.push(performance.now() - started);
      results.dispatchEvent(new CustomEvent('painted'));
    });
  };
  if (first.complete && first.naturalWidth) done();
  else first.addEventListener('load', done, { once: true });
}
