"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.3"
RULES_FINGERPRINT = "921fc4f9860a455e81bb4f4335ee4c67d9980bfd91817d7d5fb0393063967b21"
