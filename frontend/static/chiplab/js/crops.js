// Chip crops drawn from a decoded preview (ImageBitmap / <img>, see preview-loader.js) into small
// canvases.

/** Draw image-pixel box (x, y, w, hgt) of a source scaled by (kx, ky) into a size×size canvas. */
export function cropCanvas(source, kx, ky, x, y, w, hgt, size) {
  const c = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  c.width = c.height = Math.round(size * dpr);
  const ctx = c.getContext("2d");
  if (source) {
    ctx.imageSmoothingEnabled = w * kx < size * dpr;
    ctx.drawImage(source, x * kx, y * ky, w * kx, hgt * ky, 0, 0, c.width, c.height);
  }
  return c;
}

/** The crop of chip (row, col) of a grid, from the viewer's preview. */
export function chipCrop(viewer, grid, row, col, size = 34) {
  const g = grid.chip_size;
  return cropCanvas(
    viewer.img,
    viewer.pw / viewer.W,
    viewer.ph / viewer.H,
    (grid.offset_x || 0) + col * g,
    (grid.offset_y || 0) + row * g,
    g,
    g,
    size,
  );
}
