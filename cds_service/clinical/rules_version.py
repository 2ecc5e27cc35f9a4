"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.1"
RULES_FINGERPRINT = "75a31170a3e3b01bac50fc1baf354324f2ce818b2f28c2c46ec5d80e54618e79"
