"""SIMULATED hardware for ``gpuscope --demo`` and the UI's tests: nothing here is a real device,
and everything says so (names begin with "Simulated"; the app marks their figures SIMULATED)."""
