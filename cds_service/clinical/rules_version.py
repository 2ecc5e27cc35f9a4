"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.1"
RULES_FINGERPRINT = "0d71db06741029ae6a79c762772b0a832779bec1e43aac523f1eaaef74f96066"
