"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.1"
RULES_FINGERPRINT = "7b6df5084dff7d073c231a5dd743e6bd3b2160afa55818ecfe3c2e122a9a4db9"
