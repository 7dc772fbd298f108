"""Hypothesis profiles for the fuzz tests (tests/fuzz/fuzzlib.py has the harness).

``mimetic-fuzz`` (the default, what CI runs) draws a fixed, derandomized sequence of examples,
so every run tries the same corruptions and a failure reproduces; ``mimetic-fuzz-deep`` is for
hunting locally: ``MIMETIC_FUZZ=deep pytest tests/fuzz`` runs 25 times as many examples with
fresh randomness each time. Neither keeps an example database (no .hypothesis/ folder): the
derandomized sequence is the regression set.
"""

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,  # the per-example bound is fuzzlib.isolated's kill timer, immune to a slow shared CI box
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("mimetic-fuzz", derandomize=True, **_COMMON)
settings.register_profile("mimetic-fuzz-deep", derandomize=False, **_COMMON)
