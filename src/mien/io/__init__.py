"""Getting frames in (sources) and rows out (sinks)."""
