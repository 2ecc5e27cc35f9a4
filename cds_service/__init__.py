"""Radix: a CDS Hooks 2.0 service for lumbar radiculopathy decision support."""

__version__ = "0.1.0"
