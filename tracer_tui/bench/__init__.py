"""``tracer-tui bench``: how the engine's costs compare with the floor and with the naive approach."""
