// Pictures: load item images (with the key when one is set), and pick a picture to ask with.

import { keyHeaders, getKey } from './api.js';
import { $ } from './dom.js';

/** Show the picture at `url` in `img`; with a key the bytes are fetched with its header. */
export function showImage(img, url) {
  img.addEventListener('error', () => img.classList.add('broken'), { once: true });
  if (!getKey()) {
    img.src = url;
    return;
  }
  fetch(url, { headers: keyHeaders() })
    .then((response) => (response.ok ? response.blob() : Promise.reject(response.status)))
    .then((blob) => {
      const objectUrl = URL.createObjectURL(blob);
      img.addEventListener('load', () => URL.revokeObjectURL(objectUrl), { once: true });
      img.src = objectUrl;
    })
    .catch(() => img.classList.add('broken'));
}

export function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function firstImage(files) {
  return [...(files || [])].find((file) => file.type.startsWith('image/'));
}

/**
 * A picture chosen by file input, drop or paste on `zone` (paste also on `pasteTarget`).
 * Returns {get(): dataURL|null, clear()}.
 */
export function picturePicker(zone, pasteTarget = zone) {
  const input = $('input[type="file"]', zone);
  const preview = $('.preview', zone);
  const img = $('img', preview);
  let dataUrl = null;

  async function take(file) {
    if (!file) return;
    dataUrl = await readAsDataUrl(file);
    img.src = dataUrl;
    preview.hidden = false;
    zone.dispatchEvent(new CustomEvent('picture', { detail: { name: file.name } }));
  }
  function clearPicture() {
    dataUrl = null;
    img.removeAttribute('src');
    preview.hidden = true;
    input.value = '';
  }
  input.addEventListener('change', () => take(firstImage(input.files)));
  $('.remove', preview).addEventListener('click', clearPicture);
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    take(firstImage(event.dataTransfer?.files));
  });
  pasteTarget.addEventListener('paste', (event) => {
    const file = firstImage(event.clipboardData?.files);
    if (file) {
      event.preventDefault();
      take(file);
    }
  });
  return { get: () => dataUrl, clear: clearPicture };
}
