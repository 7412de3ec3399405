"""S3 stores over aiobotocore (imported only when a store first talks to the server)."""

from ._basic import BasicS3Dict
from ._cached import S3Dict

__all__ = ["BasicS3Dict", "S3Dict"]
