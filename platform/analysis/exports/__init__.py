"""Result exports as bytes: overlay and mask PNGs, OME-TIFF, CSV, JSON and the abundance chart.

Pure functions of numpy arrays and plain values (never Django), so they are unit-tested on
small arrays and reused by scripts. Conventions shared by every export:

- ``labels`` is the chip-resolution label grid (rows, cols) of class *indices* 0..K-1, or a
  series (T, rows, cols); chip (r, c) covers pixels ``offset + (r, c) * chip_size``.
- ``mask`` is the pixel-resolution map (H, W) uint8 of class indices at the original's size
  (``workers.fewshot.pixels``). The image exports (overlay, mask PNG, OME-TIFF) are of the
  mask: what the user sees by default.
- ``classes`` is the class table ``[{"index", "id", "name", "colour": "#rrggbb"}, ...]`` in
  index order; it travels with every export (PNG text chunk, OME annotations, CSV rows).
- Pixels the map does not cover (cropped margins) are :data:`UNLABELLED` in masks
  (transparent in the indexed-colour PNG) and keep the preview's grey in overlays.
"""

from .chart import chart_png, chart_svg, interval_label
from .classes import CLASS_TABLE_KEY, PROVENANCE_KEY, UNLABELLED, class_table, hex_to_rgb, palette
from .coco import coco_rle, mask_coco
from .histogram import histogram_png, histogram_svg, median_caption
from .images import (
    CONFIDENCE_STOPS,
    confidence_png,
    instances_png,
    mask_png,
    mask_preview_png,
    overlay_png,
    overlay_rgb,
    read_instances_png,
    scale_bar,
    thumbnail_png,
)
from .ome_zarr import mask_ome_zarr, read_ome_zarr
from .png import png_bytes, read_png_class_table
from .tables import (
    FORMULA_START,
    counts_csv,
    counts_rows,
    csv_cell,
    probability_summary,
    result_document,
    result_json,
    series_csv,
)
from .tiff import mask_ome_tiff, ome_unit

__all__ = [
    "CLASS_TABLE_KEY",
    "CONFIDENCE_STOPS",
    "FORMULA_START",
    "PROVENANCE_KEY",
    "UNLABELLED",
    "chart_png",
    "chart_svg",
    "class_table",
    "coco_rle",
    "confidence_png",
    "counts_csv",
    "counts_rows",
    "csv_cell",
    "hex_to_rgb",
    "histogram_png",
    "histogram_svg",
    "instances_png",
    "interval_label",
    "mask_coco",
    "mask_ome_tiff",
    "mask_ome_zarr",
    "mask_png",
    "mask_preview_png",
    "median_caption",
    "ome_unit",
    "overlay_png",
    "overlay_rgb",
    "palette",
    "png_bytes",
    "probability_summary",
    "read_instances_png",
    "read_ome_zarr",
    "read_png_class_table",
    "result_document",
    "result_json",
    "scale_bar",
    "series_csv",
    "thumbnail_png",
]
