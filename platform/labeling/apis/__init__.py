"""Labeling API, one module per concern: schemas and classes, grids, votes and gold, support
sets, crowd quality."""
