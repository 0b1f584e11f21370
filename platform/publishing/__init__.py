"""Publishing: what a lab shows the world and takes back in, built on every other app.

Dataset versions and their landing pages, FAIR metadata (RO-Crate, DataCite, OAI-PMH),
search, and whole-dataset archives. It sits above analysis in the app order, so it may
read catalog, labeling, registry and analysis; none of them imports it.
"""
