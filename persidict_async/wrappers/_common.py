"""What every wrapper shares: stores built from other stores, values passed as bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar, TypeVar

from ..base import PersiDict, Record
from ..keys import NonEmptySafeStrTuple

__all__ = ["WrapperDict", "check_store"]

V = TypeVar("V")


def check_store(name: str, store: Any) -> PersiDict[Any]:
    """Return ``store`` if it is an async PersiDict (sync facades are unwrapped), else TypeError."""
    if getattr(type(store), "_is_persidict_facade", False):
        store = store.aio
    if not isinstance(store, PersiDict):
        raise TypeError(f"{name} must be a PersiDict, got {type(store).__name__}")
    return store


def check_data_cache(main: PersiDict[Any], data_cache: Any) -> PersiDict[Any]:
    """Return the data cache if it holds values in the main store's format, else ValueError."""
    data = check_store("data_cache", data_cache)
    if data.serialization_format != main.serialization_format:
        raise ValueError(
            f"data_cache stores {data.serialization_format!r}, main_dict "
            f"{main.serialization_format!r}: they must match"
        )
    return data


class WrapperDict(PersiDict[V]):
    """A store whose primitives delegate to other stores' primitives.

    Values cross from the wrapper to the wrapped stores as encoded bytes, so the
    wrapper and its main store must share ``serialization_format``; the wrapper
    checks ``base_class_for_values`` itself (at least as strict as the main store's)
    and takes ``ttl`` and ``signing_key`` from the main store.

    Args:
        main: The authoritative store (ETags, timestamps and listing come from it).
        parts: Every wrapped store, main first.
        serialization_format: Must equal the main store's (None: take it).
        append_only: None takes the main store's; False is refused over an append-only main.
        base_class_for_values: None takes the main store's; otherwise it must be a subclass of it.
    """

    _backend_name: ClassVar[str] = "wrapper"

    def __init__(
        self,
        *,
        main: PersiDict[Any],
        parts: tuple[PersiDict[Any], ...],
        serialization_format: str | None,
        append_only: bool | None,
        base_class_for_values: type | None,
    ) -> None:
        if len({id(p) for p in parts}) != len(parts):
            raise ValueError(f"{type(self).__name__} needs distinct stores, got the same one twice")
        if serialization_format is None:
            serialization_format = main.serialization_format
        elif serialization_format != main.serialization_format:
            raise ValueError(
                f"serialization_format {serialization_format!r} differs from the wrapped store's "
                f"{main.serialization_format!r}: values pass through as bytes"
            )
        if append_only is None:
            append_only = main.append_only
        elif main.append_only and not append_only:
            raise ValueError("the wrapped store is append-only, so the wrapper must be too")
        main_base = main.base_class_for_values
        if base_class_for_values is None:
            base_class_for_values = main_base
        elif main_base is not None and not (
            isinstance(base_class_for_values, type) and issubclass(base_class_for_values, main_base)
        ):
            raise ValueError(
                f"base_class_for_values {base_class_for_values!r} is looser than the wrapped "
                f"store's {main_base.__name__}"
            )
        limits = [p._component_limit for p in parts if p._component_limit is not None]
        if limits:
            # The wrapped stores receive normalised keys and skip their own length check,
            # so the wrapper enforces the strictest limit before any I/O.
            self.__dict__["_component_limit"] = min(limits)
        # Values pass through as bytes, so expiry and signing are the main store's:
        # the wrapper writes the same envelopes and checks them on what its caches serve.
        super().__init__(
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            ttl=main.ttl,
            signing_key=main.signing_key,
        )
        self._main = main
        self._parts = parts

    def _param_dict(self) -> dict[str, Any]:
        params = super()._param_dict()
        del params["ttl"], params["signing_key"]  # they come with the main store
        return params

    @property
    def runs_inline(self) -> bool:
        """True only when every wrapped store runs inline."""
        return all(p.runs_inline for p in self._parts)

    @property
    def does_blocking_io(self) -> bool:
        """True when any wrapped store does blocking I/O."""
        return any(p.does_blocking_io for p in self._parts)

    async def aclose(self) -> None:
        """Close every wrapped store (all are attempted; the first failure is raised)."""
        error: BaseException | None = None
        for part in self._parts:
            try:
                await part.aclose()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        return await self._main._stat(key)

    def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        return self._main._scan(with_meta)

    async def _count(self) -> int:
        return await self._main._count()

    def _scan_location(self) -> AsyncIterator[tuple[str, NonEmptySafeStrTuple, Record | None]]:
        return self._main._scan_location()
