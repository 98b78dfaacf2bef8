"""Running rounds: the in-process simulator and the float-level entry point."""
