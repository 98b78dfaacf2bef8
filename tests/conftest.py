"""Hypothesis settings shared by the property tests.

No per-example deadline: a deadline is a timing assertion, and CI machines are slow and shared.
"""

from hypothesis import settings

settings.register_profile("secagg", deadline=None, print_blob=True)
settings.load_profile("secagg")
