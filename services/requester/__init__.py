"""The requester's library: store a spec and create its task (the CLI and the demo use it)."""

from services.requester.create import CreatedTask, create_task

__all__ = ["CreatedTask", "create_task"]
