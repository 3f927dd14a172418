"""The exceptions of the BiSUNA core, one root with subclasses that are also builtins."""

from __future__ import annotations


class BisunaError(Exception):
    """Root of every error the core reports. `code` is the C error code (0 if none)."""

    code: int = 0

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class FormatError(BisunaError, ValueError):
    """Agent bytes that are not a valid canonical agent (truncated, bad checksum, ...)."""


class ShapeError(FormatError):
    """An agent whose networks do not fit the environment (count, inputs, outputs)."""


class LimitError(BisunaError, ValueError):
    """An agent or environment larger than the spec's limits."""


class SpecError(BisunaError, ValueError):
    """A task spec the core cannot run (unknown env, bad parameter, ...)."""


class ScorerError(BisunaError, ValueError):
    """An unknown scorer name or version."""


class OutOfMemory(BisunaError, MemoryError):
    """The core could not allocate memory."""
