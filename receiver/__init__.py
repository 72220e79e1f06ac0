"""vodhook: the callback receiver, fallback poller, replay tool and emulator for cloud video providers."""

from receiver.model import Event, Origin, Outcome, Provider, Status, Task

__version__ = "0.1.0"

__all__ = ["Event", "Origin", "Outcome", "Provider", "Status", "Task", "__version__"]
