"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.2"
RULES_FINGERPRINT = "0782856c0b2f478537b56673f814538316ebfc11b8ab06b63ed67b88bef1278d"
