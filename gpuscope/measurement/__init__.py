"""Measurement: a workload run joined with the sampler's energy (``measured_run``), what it was
worth (``run_result``: throughput, energy, W, work per joule, % of the datasheet ``peaks``).

It sits between the workloads (which know nothing of telemetry) and what shows or exports the
results (bench, the UI, the sinks), so those depend on reports, not on workloads.
"""
