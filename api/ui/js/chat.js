// The Chat tab: streamed grounded answers, citation links, cited pictures, session history.

import { call, needsKey, sseEvents } from './api.js';
import { $, h, clear } from './dom.js';
import { openDetail, thumbnail, scoreScales } from './hits.js';
import { picturePicker } from './images.js';

const HISTORY = 'mmrag.chat';
const MAX_TURNS = 20; // earlier turns sent with a question (the API takes up to 100)
let picker;
let busy = false;

/** Messages of this browser session: {role, content, picture?, citations?, model?, error?}. */
function load() {
  try {
    return JSON.parse(sessionStorage.getItem(HISTORY) || '[]');
  } catch {
    return [];
  }
}

function save(messages) {
  const slim = messages.map(({ picture, ...rest }) => rest); // pictures stay out of storage
  sessionStorage.setItem(HISTORY, JSON.stringify(slim));
}

let messages = [];

export function initChat() {
  const form = $('#chat-form');
  if (form.dataset.wired) return;
  form.dataset.wired = '1';
  picker = picturePicker($('#chat-picker'), $('#panel-chat'));
  messages = load();
  clear($('#chat-log'), messages.map(render));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ask();
  });
  $('#question').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      ask();
    }
  });
  $('#chat-clear').addEventListener('click', () => {
    messages = [];
    save(messages);
    clear($('#chat-log'));
  });
}

function render(message) {
  if (message.role === 'user') {
    return h('li', { class: 'msg user' },
      message.content,
      message.picture ? h('img', { class: 'user-picture', src: message.picture, alt: 'The picture asked with' }) : null);
  }
  const li = h('li', { class: 'msg assistant' });
  fill(li, message);
  return li;
}

/** The assistant message's body: answer with [n] links, model, cited pictures, or the error. */
function fill(li, message) {
  const byN = new Map((message.citations || []).map((c) => [c.n, c]));
  const scales = scoreScales(message.citations || []);
  const parts = [];
  let last = 0;
  const text = message.content || '';
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    const citation = byN.get(Number(match[1]));
    if (!citation) continue;
    parts.push(text.slice(last, match.index));
    parts.push(h('a', {
      href: `#item-${citation.id}`,
      class: 'cite',
      title: citation.source,
      onclick: (event) => {
        event.preventDefault();
        openDetail(citation, scales);
      },
    }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  const cited = (message.citations || []).map((c) => h('li', {},
    h('button', { type: 'button', onclick: () => openDetail(c, scales), title: c.source },
      thumbnail(c), h('span', { class: 'n' }, `[${c.n}] ${c.source || ''}`))));
  clear(li,
    h('div', { class: 'answer' }, parts),
    message.error ? h('p', { class: 'error', role: 'alert' }, message.error) : null,
    message.model ? h('p', { class: 'model' }, `Answered by ${message.model}`) : null,
    cited.length ? h('ul', { class: 'cited', 'aria-label': 'Cited items' }, cited) : null);
}

/** The items an answer cited: the next question's search takes them as candidates. */
function citedIds(citations) {
  return (citations || []).filter((c) => c.cited !== false).map((c) => c.id).slice(0, 32);
}

async function ask() {
  if (busy) return;
  const question = $('#question').value.trim();
  const picture = picker.get();
  const log = $('#chat-log');
  if (!question && !picture) return;
  const history = messages
    .filter((m) => !m.error && m.content)
    .slice(-MAX_TURNS)
    .map(({ role, content, citations }) => (role === 'assistant'
      ? { role, content, citations: citedIds(citations) }
      : { role, content }));
  const user = { role: 'user', content: question, picture };
  messages.push(user);
  log.append(render(user));
  $('#question').value = '';
  picker.clear();
  const reply = { role: 'assistant', content: '' };
  const li = h('li', { class: 'msg assistant', 'aria-busy': 'true' }, h('div', { class: 'answer' }, '…'));
  log.append(li);
  li.scrollIntoView({ block: 'nearest' });
  busy = true;
  $('#chat-send').disabled = true;
  try {
    if (needsKey()) throw new Error('Enter an API key to ask.');
    const body = { question: question || null, image: picture, history, stream: true };
    const response = await call('/v1/chat', { method: 'POST', json: body });
    for await (const { event, data } of sseEvents(response)) {
      if (event === 'retrieval' && !reply.content) {
        const query = data.query || {};
        const searched = query.method === 'rules' || query.method === 'llm' ? ` found for “${query.query}”` : '';
        $('.answer', li).textContent = `Reading ${data.hits.length} items${searched}…`;
      } else if (event === 'token') {
        reply.content += data.text;
        li.dataset.tokens = String(Number(li.dataset.tokens || 0) + 1);
        $('.answer', li).textContent = reply.content;
      } else if (event === 'final') {
        Object.assign(reply, { content: data.answer, model: data.model, citations: data.citations });
      } else if (event === 'error') {
        reply.error = data.message || 'The answer stopped with an error.';
      }
    }
    if (!reply.model && !reply.error) reply.error = 'The answer ended before it was complete.';
  } catch (err) {
    reply.error = err.status === 503 || err.status === 504
      ? `The language model is not available: ${err.message}`
      : err.message;
  } finally {
    busy = false;
    $('#chat-send').disabled = false;
    li.removeAttribute('aria-busy');
  }
  messages.push(reply);
  fill(li, reply);
  save(messages);
}
