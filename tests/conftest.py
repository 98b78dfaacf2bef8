"""Hypothesis settings shared by the property tests.

No per-example deadline: a deadline is a timing assertion, and CI machines are slow and shared.
"""

import os

from hypothesis import settings

settings.register_profile("secagg", deadline=None, print_blob=True)
settings.load_profile("secagg")

# tests/flower/ starts real Flower processes and takes minutes: it runs with `./dev test-flower`
# (which sets SECAGG_FLOWER_DEPLOY=1), not with `./dev test`.
collect_ignore = [] if os.environ.get("SECAGG_FLOWER_DEPLOY") == "1" else ["flower"]
