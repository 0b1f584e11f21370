"""Objects of a class (particles, precipitates, voids, defects): instances, shapes, sizes.

A pixel label map says which pixels are "particle"; here they become individual particles and
their statistics:

1. ``instances``: 8-connected components of the class's pixels. With ``split="watershed"``
   a component holding touching particles is cut along the necks of its Euclidean distance
   map: a maximum of log(distance) starts its own particle when its dynamics exceed
   -log(``neck``), i.e. every path to a higher maximum passes a saddle narrower than
   ``neck`` x its own height (the inscribed radius of one particle). The distance map is
   smoothed slightly first (``smooth``) against pixel zigzag. The rule is scale-free: two
   touching discs (neck ~ 0) split down to ~4 px diameter (smaller ones lose their necks to
   pixelation); an ellipse or a rod (its distance map has a single maximum or a flat ridge)
   stays whole. All components are cut at once, in cache-sized bands of rows, without a
   per-particle loop: the exact distance transform of the pixels only (work ~ the sum of the
   distances), steepest-ascent basins of the smoothed map (pointer jumping), then the basins
   are merged in order of decreasing saddle (Kruskal on the basin adjacency graph), a lower
   peak keeping its own piece where its dynamics pass the rule (a watershed from the kept
   maxima, as a flood would assign the rest). Several classes (kinds of particle) can be
   taken together: instances of their union, each with its majority class
   (``one_class_each`` gives the map's pixels that class too). Defaults were
   chosen on generated touching discs / ellipses and the simulator's particle cases
   (``python -m workers.fewshot.bench.objects``).
2. Per instance (``Instances``): area, equivalent diameter, Feret max/min (rotating calipers
   on the convex hull of the pixels' edge midpoints, the contour scikit-image measures its
   ``feret_diameter_max`` on), ellipse axes, aspect ratio and orientation from second moments
   (pixels as unit squares), circularity 4 pi A / P^2 (P: Crofton perimeter), centroid, mean
   intensity, and whether it touches the image edge or uncovered (-1) pixels (a truncated
   particle).
3. ``size_distribution``: count, number density, equivalent-diameter histogram and summary
   statistics with bootstrap intervals (particles resampled), JSON-ready.
4. ``instance_rows`` / ``instances_table_csv`` (``rows_csv``): the particle table for export,
   its columns defined here only (the platform's particles.csv adds class names).

Modules: ``core`` (``instances``, ``Instances`` and their measurements), ``split`` (cutting
touching particles), ``shapes`` (perimeters, Feret diameters), ``stats`` (size distributions,
particle tables); import from the package.

Physical units: a pixel size in pm, Å, nm, µm, mm or m; lengths are reported in nm, areas in
nm^2, number densities per µm^2.

Bounds (a ValueError says which): maps of at most ``MAX_PIXELS`` pixels; ``min_area_px`` in
[1, 10^7]; ``neck`` in (0, 1); ``min_peak_px`` in [0.5, 1000]; ``smooth`` in [0, 5];
``n_boot`` in [0, 10000]; ``bins`` an int in [1, 1000], "auto" (numpy's rule, capped at
``MAX_AUTO_BINS``) or up to 1001 increasing edges; a pixel size in (0, 10^9] of a known unit.
"""

from workers.fewshot.objects.core import (
    MAX_PIXELS,
    Instances,
    instances,
    nm_per_unit,
    one_class_each,
)
from workers.fewshot.objects.stats import (
    instance_rows,
    instances_table_csv,
    rows_csv,
    size_distribution,
    table_header,
)

__all__ = [
    "MAX_PIXELS",
    "Instances",
    "instance_rows",
    "instances",
    "instances_table_csv",
    "nm_per_unit",
    "one_class_each",
    "rows_csv",
    "size_distribution",
    "table_header",
]
