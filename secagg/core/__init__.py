"""The sans-I/O protocol: wire format, masking graph, client and server state machines."""
