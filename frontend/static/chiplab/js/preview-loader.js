// The one way to load an image preview as a decoded picture, for the viewer and the chip crops.

const FAILED = "The image preview could not be loaded.";
const cache = new Map();

/**
 * The preview at ``url``, decoded: an ImageBitmap where the browser makes them (already decoded
 * and uploaded, the cheapest to draw every frame), else the <img>. Rejects with an Error saying
 * the preview could not be loaded.
 *
 * ``readable``: fetch the bytes first, so that the pixels can be read back from a canvas (the
 * viewer's display settings) even when the preview comes from the object store's origin, where an
 * <img> taints the canvas; the <img> is the fallback where that origin allows no CORS. Callers
 * that only draw (crops) skip the extra request.
 * ``cached``: decode once per URL and share it (the many crops of one image); a failure is not
 * kept, so the next call tries again. The viewer does not cache: a page-long cache would hold
 * every large preview and frame it has shown.
 */
export function loadPreview(url, { readable = false, cached = false } = {}) {
  if (!cached) return decode(url, readable);
  const key = `${readable ? "readable" : "drawable"} ${url}`;
  if (!cache.has(key)) {
    cache.set(
      key,
      decode(url, readable).catch((e) => {
        cache.delete(key);
        throw e;
      }),
    );
  }
  return cache.get(key);
}

async function decode(url, readable) {
  if (readable && window.createImageBitmap) {
    try {
      const res = await fetch(url, { credentials: "same-origin" });
      if (res.ok) return await createImageBitmap(await res.blob());
    } catch {
      /* fall back to an <img> */
    }
  }
  const img = new Image();
  img.decoding = "async";
  img.src = url;
  try {
    await img.decode();
    return window.createImageBitmap ? await createImageBitmap(img) : img;
  } catch {
    throw new Error(FAILED);
  }
}
