"""Open a store from a URL: a local path, ``file://``, ``s3://`` or ``memory://``.

``open_store("data/users?format=json")`` is ``FileDirDict(base_dir="data/users",
serialization_format="json")``. Query options name constructor arguments
(``format`` is short for ``serialization_format``) and are converted to the
argument's type; keyword arguments given to :func:`open_store` are Python
values and override the query.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .base import PersiDict
from .codecs import is_text_format
from .files import FileDirDict
from .memory import LocalDict

__all__ = ["StoreURLError", "StoreSpec", "open_store", "parse_store_url"]

_ALIASES = {"format": "serialization_format"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
# Value classes a URL can name; anything richer needs a keyword argument.
_VALUE_CLASSES: dict[str, type] = {
    "str": str, "bytes": bytes, "int": int, "float": float, "bool": bool,
    "dict": dict, "list": list, "tuple": tuple,
}  # fmt: skip


class StoreURLError(ValueError):
    """A store URL, or an option given with it, is not valid."""


@dataclass(frozen=True)
class StoreSpec:
    """What a URL names: a store class and its constructor arguments.

    Attributes:
        store_class: The async store class to build.
        options: Its keyword arguments.
        local_dir: The folder of a file store (None for other stores).
    """

    store_class: type[PersiDict[Any]]
    options: dict[str, Any] = field(default_factory=dict)
    local_dir: str | None = None

    def create(self) -> PersiDict[Any]:
        """Build the store.

        Raises:
            StoreURLError: The constructor refused an option.
        """
        try:
            return self.store_class(**self.options)
        except (ValueError, TypeError) as exc:
            raise StoreURLError(f"cannot open {self.store_class.__name__}: {exc}") from exc


def open_store(url: str | os.PathLike[str], **options: Any) -> PersiDict[Any]:
    """Open the async store that ``url`` names.

    Args:
        url: ``path/to/dir`` or ``file:///abs/dir`` (FileDirDict),
            ``s3://bucket/prefix`` (S3Dict; BasicS3Dict with ``cache=False``),
            or ``memory://`` (a new LocalDict); with optional query options
            such as ``?format=json&append_only=1``.
        **options: Constructor arguments; they override the query.

    Returns:
        The store (not yet connected: S3 connects on first use).

    Raises:
        StoreURLError: Unknown scheme, empty bucket, unknown option or bad value.
    """
    return parse_store_url(url, options).create()


def parse_store_url(
    url: str | os.PathLike[str],
    options: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> StoreSpec:
    """Resolve a URL into a store class and its arguments, without creating it.

    Args:
        url: See :func:`open_store`.
        options: Python-valued arguments that override the query.
        defaults: Python-valued arguments used when neither the query nor
            ``options`` sets them.

    Raises:
        StoreURLError: See :func:`open_store`.
    """
    text = os.fspath(url)
    if not isinstance(text, str) or not text:
        raise StoreURLError(f"a store URL must be a non-empty str, got {url!r}")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    query = _query(parts.query, text)
    given = {_ALIASES.get(k, k): v for k, v in (options or {}).items()}
    if scheme in ("", "file") or len(scheme) == 1:  # one letter: a Windows drive
        return _file_spec(text, parts, scheme, query, given, defaults)
    if scheme == "s3":
        return _s3_spec(text, parts, query, given, defaults)
    if scheme == "memory":
        if parts.netloc or parts.path not in ("", "/"):
            raise StoreURLError(f"a memory:// URL takes no location, got {text!r}")
        return _spec(LocalDict, {}, query, given, defaults, text)
    raise StoreURLError(
        f"unsupported URL scheme {parts.scheme!r} in {text!r}: "
        "use a path, file:///path, s3://bucket/prefix or memory://"
    )


def _query(raw: str, url: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw))
    except ValueError as exc:
        raise StoreURLError(f"malformed query in {url!r}: {exc}") from exc
    query: dict[str, str] = {}
    for name, value in pairs:
        name = _ALIASES.get(name, name)
        if name in query:
            raise StoreURLError(f"option {name!r} is given twice in {url!r}")
        query[name] = value
    return query


def _file_spec(
    text: str,
    parts: Any,
    scheme: str,
    query: dict[str, str],
    given: dict[str, Any],
    defaults: Mapping[str, Any] | None,
) -> StoreSpec:
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreURLError(f"file:// URLs must name a local path, got host {parts.netloc!r}")
        path = unquote(parts.path)
    else:
        # A plain path: everything before the first '?' is the folder.
        path = text.split("?", 1)[0]
    if not path:
        raise StoreURLError(f"no folder in {text!r}")
    fixed = {"base_dir": path}
    spec = _spec(FileDirDict, fixed, query, given, defaults, text)
    return StoreSpec(spec.store_class, spec.options, os.path.abspath(path))


def _s3_spec(
    text: str,
    parts: Any,
    query: dict[str, str],
    given: dict[str, Any],
    defaults: Mapping[str, Any] | None,
) -> StoreSpec:
    from .s3 import BasicS3Dict, S3Dict

    bucket = parts.netloc
    if not bucket:
        raise StoreURLError(f"no bucket in {text!r}: use s3://bucket/prefix")
    if "@" in bucket or ":" in bucket:
        raise StoreURLError(
            f"bad bucket {bucket!r} in {text!r}: credentials and ports go in options "
            "(endpoint_url=...) or the environment"
        )
    cache_text = query.pop("cache", None)
    if "cache" in given:
        cache = given.pop("cache")
        if not isinstance(cache, bool):
            raise StoreURLError(f"cache must be a bool, got {cache!r}")
    elif cache_text is not None:
        cache = _convert("cache", cache_text, "bool")
    else:
        cache = bool((defaults or {}).get("cache", True))
    defaults = {k: v for k, v in (defaults or {}).items() if k != "cache"}
    store_class: type[PersiDict[Any]] = S3Dict if cache else BasicS3Dict
    fixed = {"bucket_name": bucket, "root_prefix": unquote(parts.path.lstrip("/"))}
    return _spec(store_class, fixed, query, given, defaults, text)


def _parameters(store_class: type[PersiDict[Any]]) -> dict[str, str]:
    """Constructor argument names and their annotations, as text."""
    from .s3 import BasicS3Dict, S3Dict

    classes: list[type[Any]] = [store_class]
    if store_class is S3Dict:
        classes.append(BasicS3Dict)  # S3Dict passes its **s3_options on to it
    found: dict[str, str] = {}
    for klass in classes:
        for name, param in inspect.signature(klass.__init__).parameters.items():
            if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            ann = param.annotation
            found.setdefault(name, ann if isinstance(ann, str) else getattr(ann, "__name__", repr(ann)))
    return found


def _spec(
    store_class: type[PersiDict[Any]],
    fixed: dict[str, Any],
    query: dict[str, str],
    given: dict[str, Any],
    defaults: Mapping[str, Any] | None,
    url: str,
) -> StoreSpec:
    params = _parameters(store_class)
    for name in (*query, *given):
        if name in fixed:
            raise StoreURLError(f"option {name!r} is set by the URL itself ({url!r})")
        if name not in params:
            allowed = ", ".join(sorted(n for n in params if n not in fixed))
            raise StoreURLError(
                f"unknown option {name!r} for {store_class.__name__} in {url!r}; known: {allowed}"
            )
    options = dict(fixed)
    for name, value in (defaults or {}).items():
        if name in params and name not in fixed:
            options[name] = value
    for name, value in query.items():
        options[name] = _convert(name, value, params[name])
    options.update(given)
    fmt = options.get("serialization_format", "pkl")
    if isinstance(fmt, str) and fmt and is_text_format(fmt):
        # Text formats only hold str: saying so again in every URL would be noise.
        options.setdefault("base_class_for_values", str)
    return StoreSpec(store_class, options)


def _convert(name: str, value: str, annotation: str) -> Any:
    """Turn a query value into the type the constructor annotation names."""
    kinds = {part.strip() for part in annotation.replace("Optional[", "").rstrip("]").split("|")}
    if "None" in kinds and value.lower() in ("none", "null"):
        return None
    if "bool" in kinds:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise StoreURLError(f"option {name!r} must be a boolean (1/0, true/false), got {value!r}")
    if "int" in kinds:
        try:
            return int(value)
        except ValueError:
            raise StoreURLError(f"option {name!r} must be an integer, got {value!r}") from None
    if "float" in kinds:
        try:
            return float(value)
        except ValueError:
            raise StoreURLError(f"option {name!r} must be a number, got {value!r}") from None
    if "type" in kinds:
        if value not in _VALUE_CLASSES:
            raise StoreURLError(
                f"option {name!r} must name one of {', '.join(_VALUE_CLASSES)}, got {value!r}"
            )
        return _VALUE_CLASSES[value]
    if "str" in kinds or any(kind.startswith("os.PathLike") for kind in kinds):
        if not value:
            raise StoreURLError(f"option {name!r} must not be empty")
        return value
    raise StoreURLError(f"option {name!r} cannot be given in a URL; pass it as a keyword argument")
