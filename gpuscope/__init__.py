"""gpuscope: live GPU/CPU telemetry, and what the hardware is worth per second and per joule."""

__version__ = "0.1.0"
