"""sdfleet: the shared job contract used by the ingest Lambda, the scaler and the GPU worker."""

__version__ = "0.1.0"
