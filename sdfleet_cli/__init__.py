"""sdfleet_cli: the `sdfleet` command and the local stack (emulator, Terraform, API adapter,
scaler timer, worker processes). Developer tooling: it imports moto, jwt and the deployables,
so no Lambda zip carries it; the contract lives in `sdfleet`."""
