"""A Flower app for secagg's fault-injection tests: fixed updates, faults from node config."""
