"""``tracer-tui bench``: how the engine's costs compare with the floor and with the naive approach.

Belongs here: the benchmark's workloads (a seeded model of GPT-2-small shape), its measurements and the naive
baseline it is compared with. The command itself is ``cli/bench.py``.
"""
