"""Data: the feeds, the warehouse and everything that reads or writes it (raw zone, validation,
ingest, status, as-of history reads, the replay clock).  Imports only ``tasks.core``."""
