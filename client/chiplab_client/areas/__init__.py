"""The client's areas, one per part of the API (``client.labs``, ``client.jobs``, …)."""
