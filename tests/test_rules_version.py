"""The rules release in every ``knowledgeVersion`` was set for the rule code as it is now.

Here rather than in tests/clinical: the mutation runs (mutmut, bench/table_mutation.py) change
the rule code on purpose and run tests/clinical and tests/cards, which this test would fail for
every mutant.
"""

from cds_service.clinical.rules_fingerprint import stale


def test_the_rules_release_is_recorded_for_this_code() -> None:
    problem = stale()
    assert problem is None, problem
