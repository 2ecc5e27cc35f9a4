"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``python -m cds_service.clinical.rules_fingerprint VERSION``; do not edit by hand.
"""

RULES_VERSION = "2026.12.1"
RULES_FINGERPRINT = "92cac5d7c81912443d947d2eb12d7ddcaed762e57948e4d21e3d27b33143767f"
