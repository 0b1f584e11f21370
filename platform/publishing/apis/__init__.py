"""REST API of publishing: dataset versions and their metadata, search."""
