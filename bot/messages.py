"""The neutral chat objects every adapter translates to and from, the adapter seam and its capabilities."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from knowledge.answer import Citation

if TYPE_CHECKING:
    from bot.store.rights import EraseReport


@dataclass(frozen=True)
class FileRef:
    """A file a user sent. The core checks who sent it and its size before ``fetch`` downloads it."""

    name: str
    size: int
    fetch: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Payment:
    """A payment event from a platform (Telegram Stars), translated for the core.

    ``kind`` is ``pre_checkout`` (the platform asks whether to take the money: answer with
    :attr:`Reply.payment_ok`), ``paid`` (a completed payment or a subscription renewal) or
    ``refunded`` (the platform refunded it). ``amount`` is in the currency's smallest unit (Stars).
    """

    kind: str
    payload: str
    currency: str
    amount: int
    charge_id: str = ""
    provider_charge_id: str = ""
    subscription_until: datetime | None = None
    recurring: bool = False
    first_recurring: bool = False


@dataclass(frozen=True)
class IncomingMessage:
    """One message (or button press, or file) from a learner, whatever the platform.

    ``chat_id`` (and ``thread_id`` where the platform has threads) identify the conversation whose
    memory a follow-up uses; ``callback_data`` is set for a button press instead of text.
    ``delivery_id`` is the platform's id of this delivery (Telegram ``update_id``, Slack event id):
    a delivery seen before is not handled again. ``locale`` is the user's language tag if known.
    ``direct`` is false in a group or channel: scheduled pushes only go to one-to-one chats.
    ``team_id`` is the Slack workspace the user belongs to (organisation grants); ``payment`` is set
    for a payment event instead of text.
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
    team_id: str = ""
    payment: Payment | None = None

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


@dataclass(frozen=True)
class Document:
    """A file the bot sends with a reply (e.g. a learner's ``/mydata`` export)."""

    name: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Invoice:
    """An offer to pay in Telegram Stars (currency ``XTR``); platforms without payments show ``fallback``.

    ``subscription_period`` (seconds, Telegram allows 30 days) makes it a recurring subscription.
    """

    title: str
    description: str
    payload: str
    label: str
    stars: int
    subscription_period: int = 0
    fallback: str = "Premium tracks are bought in Telegram: open the bot there and send /premium."


@dataclass
class Reply:
    """What the bot says: text, numbered sources, rows of buttons, an optional PNG image or file."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    buttons: list[list[Button]] = field(default_factory=list)
    image: bytes | None = None
    grounded: bool | None = None
    question_id: int | None = None
    document: Document | None = None
    invoice: Invoice | None = None
    payment_ok: bool | None = None
    """Answers a ``pre_checkout`` payment event: ``True`` takes the money, else ``text`` says why not."""


class ChatAdapter(Protocol):
    """A chat platform front door: start, stop, send.

    What an adapter can do beyond that it offers through smaller protocols of its own
    (:class:`StarRefunds`, :class:`LearnerCache`), which the composition root wires.
    """

    async def start(self) -> None:
        """Begin receiving messages."""
        ...

    async def stop(self) -> None:
        """Stop receiving messages and release resources."""
        ...

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Deliver a reply to a chat."""
        ...


@runtime_checkable
class StarRefunds(Protocol):
    """A front door that can refund a Telegram Stars payment and tell the payer (the admin's ``/refund``).

    The composition root hands it to :meth:`bot.chat.router.Router.attach`.
    """

    async def refund_star_payment(self, user_id: int, charge_id: str, subscription: str = "") -> None:
        """Refund a charge, cancelling the subscription ``subscription`` names first, if any."""
        ...

    async def tell(self, user_id: int, text: str) -> None:
        """Message a user in their private chat."""
        ...


@runtime_checkable
class LearnerCache(Protocol):
    """A front door that keeps learners' platform data in memory (names, DM channels).

    Once attached (:meth:`bot.chat.router.Router.attach`) it hears of every erase, so an erased
    learner's data goes at once, not at the next restart.
    """

    def forget(self, report: EraseReport) -> None:
        """Drop what is kept about the learner ``report`` names."""
        ...
