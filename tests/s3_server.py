"""Fixtures that start real S3 servers on 127.0.0.1 (filled in by the S3 backend)."""
