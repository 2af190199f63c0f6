"""The ``gpuscope`` terminal UI (Textual). Reads the sampler's history and the runs' state;
never calls a device or a workload on its event loop."""
