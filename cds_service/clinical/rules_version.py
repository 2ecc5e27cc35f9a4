"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.2"
RULES_FINGERPRINT = "0ed7ee0c02ce666fcd37c7fbbedbb01a30a04a08f7d75b2f58d7bd440eff2e27"
