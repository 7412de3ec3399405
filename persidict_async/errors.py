"""The exceptions of the library (besides KeyError, TypeError and ValueError)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "ConcurrencyConflictError",
    "CorruptValueError",
    "MutationPolicyError",
    "UntrustedValueError",
]


class MutationPolicyError(TypeError):
    """The store's policy (e.g. "append-only", "write-once") forbids the mutation.

    Attributes:
        policy: The name of the policy that refused it.
    """

    def __init__(self, policy: str, detail: str = "") -> None:
        super().__init__(f"{policy}: {detail}" if detail else policy)
        self.policy = policy


class ConcurrencyConflictError(RuntimeError):
    """Retries ran out because other writers kept changing the key.

    Attributes:
        key: The key that kept changing.
        attempts: How many attempts were made.
    """

    def __init__(self, key: Any, attempts: int) -> None:
        super().__init__(f"operation failed after {attempts} attempt(s) for key {key!r}")
        self.key = key
        self.attempts = attempts


class BackendError(RuntimeError):
    """The storage backend could not complete an operation (not a missing key).

    Attributes:
        backend: The backend's name ("memory", "files", "s3").
        operation: What was being done (e.g. "write", "get_object").
        key: The key involved, or None.
    """

    def __init__(
        self, message: str, *, backend: str, operation: str, key: Any = None
    ) -> None:
        super().__init__(message)
        self.backend = backend
        self.operation = operation
        self.key = key


class CorruptValueError(BackendError):
    """A stored value cannot be decoded (truncated, garbage, or wrong format)."""


class UntrustedValueError(CorruptValueError):
    """A store with a ``signing_key`` read a value not signed with that key.

    The value was written without the key, or changed after it was written; it
    is never decoded (unpickling it could run code).
    """
