// The viewer's result overlay, drawn over the visible part of the micrograph only.

/** The visible chips (columns c0–c1, rows r0–r1) of grid ``g`` in the image rectangle x0–x1, y0–y1. */
export function visibleChips(g, { x0, y0, x1, y1 }) {
  const c0 = Math.max(0, Math.floor((x0 - g.ox) / g.chip));
  const r0 = Math.max(0, Math.floor((y0 - g.oy) / g.chip));
  const c1 = Math.min(g.cols, Math.ceil((x1 - g.ox) / g.chip));
  const r1 = Math.min(g.rows, Math.ceil((y1 - g.oy) / g.chip));
  return { c0, r0, c1, r1 };
}

/** Replace the overlay's map at a preview's size by the next larger one, or the whole map
 * (``overlay.full()``), once it has loaded; the smaller one stays if it cannot be loaded. */
function sharpen(v, overlay) {
  const full = overlay.full;
  overlay.full = null;
  full()
    .then((made) => {
      if (v.overlay !== overlay) return; // another result or view meanwhile
      overlay.image = made.image;
      overlay.full = made.full || null; // a larger one still, if zoomed in past this one
      v.requestDraw();
    })
    .catch((e) => console.warn("the whole pixel map", e));
}

/** The overlay, a pixel map (an image at the original's size) or a chip map (one canvas pixel
 * per chip), scaled up without smoothing; ``rect`` is the visible image rectangle, ``vis`` the
 * visible chips (null without a grid). */
export function drawOverlay(v, rect, vis) {
  const overlay = v.overlay;
  const g = v.grid;
  if (!overlay) return;
  if (!overlay.image && !(g && vis.c1 > vis.c0 && vis.r1 > vis.r0)) return;
  const { ctx, scale: s, tx, ty } = v;
  ctx.save();
  ctx.imageSmoothingEnabled = false;
  ctx.globalAlpha = overlay.opacity;
  if (overlay.image) {
    const { x0, y0, x1, y1 } = rect;
    const im = overlay.image;
    const mx = im.naturalWidth / v.W;
    const my = im.naturalHeight / v.H;
    v.canvas.dataset.overlayWidth = im.naturalWidth;
    // a map at the preview's size, zoomed in past it: the whole map, fetched once
    if (overlay.full && s * (v.dpr || 1) > Math.min(mx, my)) sharpen(v, overlay);
    const [w, hgt] = [x1 - x0, y1 - y0];
    ctx.drawImage(im, x0 * mx, y0 * my, w * mx, hgt * my, tx + x0 * s, ty + y0 * s, w * s, hgt * s);
  } else {
    delete v.canvas.dataset.overlayWidth;
    const { c0, r0, c1, r1 } = vis;
    const [x, y] = [tx + (g.ox + c0 * g.chip) * s, ty + (g.oy + r0 * g.chip) * s];
    ctx.drawImage(overlay.canvas, c0, r0, c1 - c0, r1 - r0, x, y, (c1 - c0) * g.chip * s, (r1 - r0) * g.chip * s);
  }
  ctx.restore();
}
