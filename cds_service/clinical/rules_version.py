"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.1"
RULES_FINGERPRINT = "4e12eb77c339855acc0322aacde5cb443e9c1960bb90e57e7ada119d1cc9f033"
