"""Device backends (NVML, amdsmi, psutil + RAPL). No UI and no torch imports here, ever."""
