"""Catalog API, one module per concern: datasets, images (downloads, tiles, OME-Zarr),
versions (FAIR: RO-Crate, DataCite, citations), direct uploads, search and annotations,
dataset archives."""
