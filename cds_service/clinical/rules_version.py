"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.2"
RULES_FINGERPRINT = "150b0f9bb4ee0d01df8a46596dd0411f30dd43c8f885253fcc5f4bae7cc82faa"
