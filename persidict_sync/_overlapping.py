"""The sync OverlappingMultiDict: its format attributes are sync facades."""

from __future__ import annotations

from typing import Any

import persidict_async as aio

from ._facade import PersiDict, to_async

__all__ = ["OverlappingMultiDict"]


class OverlappingMultiDict:
    """Several serialization formats over one location, each a sync store attribute.

    Same arguments as :class:`persidict_async.OverlappingMultiDict`; ``dict_type``
    may be a sync store class (e.g. ``persidict_sync.FileDirDict``) or an async one.
    The async container is available as ``.aio``.
    """

    def __init__(
        self,
        *,
        dict_type: type[Any],
        shared_subdicts_params: dict[str, Any],
        **individual_subdicts_params: dict[str, Any],
    ) -> None:
        if isinstance(dict_type, type) and issubclass(dict_type, PersiDict):
            dict_type = dict_type._async_class
        multi = aio.OverlappingMultiDict(
            dict_type=dict_type,
            shared_subdicts_params=to_async(shared_subdicts_params),
            **to_async(individual_subdicts_params),
        )
        self.aio = multi
        self.subdicts_names = multi.subdicts_names
        for name in multi.subdicts_names:
            self.__dict__[name] = PersiDict.wrap(multi.subdict(name))

    def __getattr__(self, name: str) -> PersiDict[Any]:
        # Only reached for names that are not formats: say which ones exist.
        raise AttributeError(
            f"{type(self).__name__} has no format {name!r}; formats: {self.__dict__.get('subdicts_names')}"
        )

    def subdict(self, serialization_format: str) -> PersiDict[Any]:
        """The store of one format (same as the attribute of that name)."""
        facade: PersiDict[Any] = self.__dict__[serialization_format]
        return facade

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, sorted by name (format parameters included)."""
        return self.aio.get_params()

    def close(self) -> None:
        """Close every format's store."""
        for name in self.subdicts_names:
            self.subdict(name).close()

    def __enter__(self) -> OverlappingMultiDict:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getitem__(self, key: Any) -> Any:
        raise self.aio._not_a_dict()

    def __setitem__(self, key: Any, value: Any) -> None:
        raise self.aio._not_a_dict()

    def __delitem__(self, key: Any) -> None:
        raise self.aio._not_a_dict()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.get_params()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}{repr(self.aio)[len(type(self.aio).__name__):]}"


def _rebuild(cls: type[OverlappingMultiDict], params: dict[str, Any]) -> OverlappingMultiDict:
    return cls(**params)
