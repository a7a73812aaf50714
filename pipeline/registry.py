"""A small name → class registry, in the spirit of timm's model registry.

Each entry is registered with a decorator in the module that defines it; the package's
``__init__`` imports those modules explicitly so the registry is complete on import.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories (usually classes) of one kind of object."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name`` (names are unique)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; an unknown name lists the valid ones."""
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}"
            ) from None

    def parameters(self, name: str) -> dict[str, inspect.Parameter]:
        """The keyword parameters the factory of ``name`` accepts."""
        sig = inspect.signature(self.get(name))
        return {
            p.name: p
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }

    def build(self, name: str, where: str = "", **kwargs: Any) -> T:
        """Build ``name`` with ``kwargs``; an unknown keyword names ``where`` and the valid ones."""
        params = self.parameters(name)
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}unknown parameter(s) {', '.join(unknown)} for {self.kind} {name!r}; "
                f"valid: {', '.join(sorted(params)) or '(none)'}"
            )
        prefix = f"{where}: " if where else ""
        try:
            return self.get(name)(**kwargs)
        except ConfigError as exc:
            # a value the constructor rejected: say where it was set (a config key path, a
            # command-line spec), once: a nested build has already named a deeper path
            if not where or str(exc).startswith(where):
                raise
            raise ConfigError(f"{prefix}{exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{prefix}bad parameters for {self.kind} {name!r}: {exc}") from exc
