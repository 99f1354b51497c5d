"""The fleet simulator: traces, the event engine, baselines, the oracle and reports."""
