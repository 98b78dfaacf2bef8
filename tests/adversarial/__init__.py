"""A malicious server (and its corrupt clients) against real clients: the attacks of issue 8,
and property tests of every state handler on arbitrary or mutated bytes."""
