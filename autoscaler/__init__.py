"""The scaler: a pure queue-depth policy, its Lambda handler, and a fleet simulator.

Importing this package stays cheap: the simulator (numpy-free, but with matplotlib for
plots) is only imported by the CLI and the benchmarks, never by the Lambda handler.
"""
