"""The parts of ``scripts/gpu_check.py``: sections, their runner, the readings comparison, the
report writers. Pure parts (runner, readings, report) are tested on CI with the pynvml fake."""
