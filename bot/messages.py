"""The neutral chat objects every adapter translates to and from, and the adapter seam."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from knowledge.answer import Citation


@dataclass(frozen=True)
class FileRef:
    """A file a user sent. The core checks who sent it and its size before ``fetch`` downloads it."""

    name: str
    size: int
    fetch: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class IncomingMessage:
    """One message (or button press, or file) from a learner, whatever the platform.

    ``chat_id`` (and ``thread_id`` where the platform has threads) identify the conversation whose
    memory a follow-up uses; ``callback_data`` is set for a button press instead of text.
    ``delivery_id`` is the platform's id of this delivery (Telegram ``update_id``, Slack event id):
    a delivery seen before is not handled again. ``locale`` is the user's language tag if known.
    ``direct`` is false in a group or channel: scheduled pushes only go to one-to-one chats.
    """

    platform: str
    user_id: str
    chat_id: str
    text: str = ""
    display_name: str = ""
    thread_id: str = ""
    message_id: str = ""
    callback_data: str | None = None
    delivery_id: str = ""
    file: FileRef | None = None
    locale: str = ""
    direct: bool = True

    @property
    def conversation(self) -> tuple[str, str, str]:
        """The key of this conversation's memory."""
        return (self.platform, self.chat_id, self.thread_id)


@dataclass(frozen=True)
class Button:
    """A button under a reply: it sends ``data`` back as a callback, or opens ``url``."""

    label: str
    data: str = ""
    url: str = ""


@dataclass
class Reply:
    """What the bot says: text, numbered sources, rows of buttons, an optional PNG image."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    buttons: list[list[Button]] = field(default_factory=list)
    image: bytes | None = None
    grounded: bool | None = None
    question_id: int | None = None


class ChatAdapter(Protocol):
    """A chat platform front door. Buttons, files and payments are separate, smaller protocols."""

    async def start(self) -> None:
        """Begin receiving messages."""
        ...

    async def stop(self) -> None:
        """Stop receiving messages and release resources."""
        ...

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver a reply to a chat."""
        ...
