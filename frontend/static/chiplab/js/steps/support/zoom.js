// Showing one chip on the image, for the class list's thumbnails and the suggestions alike.

/** Zoom the viewer to chip (row, col) with two chips of context on every side. */
export function zoomToChip(viewer, grid, row, col) {
  const g = grid.chip_size;
  viewer.zoomTo(grid.offset_x + col * g - 2 * g, grid.offset_y + row * g - 2 * g, 5 * g, 5 * g);
}
