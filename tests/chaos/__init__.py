"""The chaos suite: many job lifecycles through the public hook, operators, sensor and trigger against an
emulator process that injects faults; see ``harness.py``."""
