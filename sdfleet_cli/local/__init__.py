"""The local stack: emulator, Terraform, API adapter, scaler timer and worker processes."""
