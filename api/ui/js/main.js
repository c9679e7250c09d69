// The page's entry: tabs from the URL hash, the API key, and each tab's first load.

import { auth, getJson, getKey, setKey, needsKey } from './api.js';
import { $ } from './dom.js';
import { wireDialog } from './hits.js';
import { initSearch } from './search.js';

const TABS = ['search', 'chat', 'ingest', 'library', 'sources', 'status'];
let info = null;

const loaders = {
  search: async () => initSearch(info),
  chat: async () => (await import('./chat.js')).initChat(),
  ingest: async () => (await import('./ingest.js')).initIngest(info),
  library: async () => (await import('./library.js')).initLibrary(),
  sources: async () => (await import('./sources.js')).initSources(),
  status: async () => (await import('./status.js')).initStatus(info),
};

function current() {
  const name = location.hash.slice(1);
  return TABS.includes(name) ? name : 'search';
}

async function showTab() {
  const name = current();
  for (const panel of document.querySelectorAll('[data-panel]')) panel.hidden = panel.dataset.panel !== name;
  for (const link of document.querySelectorAll('[data-tab]')) {
    if (link.dataset.tab === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `mmrag · ${name[0].toUpperCase()}${name.slice(1)}`;
  await loaders[name]();
}

async function loadInfo() {
  info = null;
  if (needsKey()) return;
  try {
    info = await getJson('/v1/info');
  } catch {
    info = null;
  }
}

function askForKey(message) {
  const dialog = $('#key-dialog');
  $('#key-message').textContent = message;
  $('#key-input').value = '';
  if (!dialog.open) dialog.showModal();
}

function wireKeys() {
  const dialog = $('#key-dialog');
  const keyButton = $('#key-button');
  keyButton.hidden = !auth.required;
  $('#key-needed').hidden = !needsKey();
  keyButton.addEventListener('click', () => askForKey('The key is kept in this browser only.'));
  $('#key-open').addEventListener('click', () => askForKey('This server asks for an API key.'));
  $('#key-cancel').addEventListener('click', () => dialog.close());
  $('#key-forget').addEventListener('click', () => {
    setKey('');
    dialog.close();
    location.reload();
  });
  $('#key-form').addEventListener('submit', async () => {
    setKey($('#key-input').value.trim());
    $('#key-needed').hidden = !needsKey();
    await loadInfo();
    await showTab();
  });
  auth.onRefused = () => {
    $('#key-needed').hidden = false;
    askForKey(getKey() ? 'The server refused this key: enter another.' : 'This server asks for an API key.');
  };
}

async function start() {
  wireDialog();
  try {
    auth.required = (await (await fetch('/ui/config.json')).json()).api_keys;
  } catch {
    auth.required = false;
  }
  wireKeys();
  if (needsKey()) askForKey('This server asks for an API key. It is kept in this browser only.');
  await loadInfo();
  window.addEventListener('hashchange', showTab);
  await showTab();
  document.body.dataset.ready = '1';
}

start();
