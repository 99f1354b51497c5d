"""The GPU worker daemon: long-polls the lanes, claims jobs, generates, uploads, drains."""
