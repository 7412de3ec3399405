"""OverlappingMultiDict: several serialization formats over one location."""

from __future__ import annotations

from typing import Any

from ..base import PersiDict

__all__ = ["OverlappingMultiDict"]


class OverlappingMultiDict:
    """One location holding several stores, one per serialization format.

    Each format is an attribute (``multi.json``, ``multi.pkl``, ``multi.txt`` ...)
    holding a store of ``dict_type`` built from ``shared_subdicts_params`` plus
    that format's own parameters. The stores share the location but not their
    keys: a key of ``.json`` is a different item than the same key of ``.pkl``,
    and ``clear()`` of one format leaves the others. The container itself is
    not a dict: indexing it raises TypeError.

    Args:
        dict_type: The PersiDict class of every format's store.
        shared_subdicts_params: Parameters common to all formats (the location).
        **individual_subdicts_params: One dict of extra parameters per format name.
    """

    def __init__(
        self,
        *,
        dict_type: type[PersiDict[Any]],
        shared_subdicts_params: dict[str, Any],
        **individual_subdicts_params: dict[str, Any],
    ) -> None:
        if not (isinstance(dict_type, type) and issubclass(dict_type, PersiDict)):
            raise TypeError(f"dict_type must be a PersiDict subclass, got {dict_type!r}")
        if not isinstance(shared_subdicts_params, dict):
            raise TypeError("shared_subdicts_params must be a dict")
        if "serialization_format" in shared_subdicts_params:
            raise ValueError("serialization_format is set per format, not in shared_subdicts_params")
        if not individual_subdicts_params:
            raise ValueError("OverlappingMultiDict needs at least one format")
        stores: dict[str, PersiDict[Any]] = {}
        for name, params in individual_subdicts_params.items():
            if not isinstance(params, dict):
                raise TypeError(f"params for format {name!r} must be a dict, got {type(params).__name__}")
            if name.startswith("_") or hasattr(type(self), name):
                raise ValueError(f"{name!r} cannot be a format name here")
            stores[name] = dict_type(
                **{**shared_subdicts_params, **params, "serialization_format": name}
            )
        self.dict_type = dict_type
        self.shared_subdicts_params = shared_subdicts_params
        self.individual_subdicts_params = individual_subdicts_params
        self.subdicts_names = list(stores)
        self._stores = stores
        self.__dict__.update(stores)

    def __getattr__(self, name: str) -> PersiDict[Any]:
        # Only reached for names that are not formats: say which ones exist.
        raise AttributeError(
            f"{type(self).__name__} has no format {name!r}; formats: {self.__dict__.get('subdicts_names')}"
        )

    def subdict(self, serialization_format: str) -> PersiDict[Any]:
        """The store of one format (same as the attribute of that name)."""
        return self._stores[serialization_format]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, sorted by name (format parameters included)."""
        return dict(sorted({
            "dict_type": self.dict_type,
            "shared_subdicts_params": self.shared_subdicts_params,
            **self.individual_subdicts_params,
        }.items()))  # fmt: skip

    async def aclose(self) -> None:
        """Close every format's store."""
        for store in self._stores.values():
            await store.aclose()

    async def __aenter__(self) -> OverlappingMultiDict:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _not_a_dict(self) -> TypeError:
        return TypeError(
            f"{type(self).__name__} is not a dict: use one of its formats "
            f"{self.subdicts_names} (e.g. .{self.subdicts_names[0]}[key])"
        )

    def __getitem__(self, key: Any) -> Any:
        raise self._not_a_dict()

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self._not_a_dict()

    def __delitem__(self, key: Any) -> None:
        raise self._not_a_dict()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _rebuild(cls: type[OverlappingMultiDict], params: dict[str, Any]) -> OverlappingMultiDict:
    return cls(**params)
