"""What a handler gets for one message (:class:`ChatContext`), and the conversation state it may touch.

The router builds one :class:`ChatContext` per message: the learner is resolved and the clock read
once, and every handler receives the same context. :class:`ConversationState` owns what the bot
remembers between messages in memory only (lost on restart, by design): the follow-up memory of each
conversation, the question rate window of each learner, the quiz waiting for a typed answer in each
conversation, the page each learner reached in each lesson and pending ``/forget`` confirmations.
Erasing a learner calls :meth:`ConversationState.forget`; nothing reaches into it from outside.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.messages import IncomingMessage, Reply
from knowledge.generation import Turn

if TYPE_CHECKING:
    from bot.store.rows import QuizItem

Conversation = tuple[str, str, str]
"""``IncomingMessage.conversation``: (platform, chat id, thread)."""


@dataclass
class RateWindow:
    """The times of a learner's recent questions (monotonic seconds)."""

    times: deque[float] = field(default_factory=deque)


class ConversationState:
    """The bot's in-memory state between messages, with one way to drop a learner's part of it.

    Example:
        >>> state = ConversationState(memory_turns=3)
        >>> state.memory(("test", "chat-1", "")).append((turn, frozenset()))
        >>> state.forget(learner_id, chats=[("test", "chat-1")])
    """

    def __init__(self, memory_turns: int = 3) -> None:
        self.memory_turns = memory_turns
        # Each remembered turn carries the premium tracks its answer could draw on; a later question
        # sees it only while the asker is entitled to all of them (access ended, or another learner).
        self._memory: dict[Conversation, deque[tuple[Turn, frozenset[str]]]] = defaultdict(
            lambda: deque(maxlen=self.memory_turns)
        )
        self._windows: dict[int, RateWindow] = defaultdict(RateWindow)
        # The quiz last shown in each conversation, so a reply of "2" answers it (the console has
        # no buttons). Lost on restart, which only means the learner taps or asks /quiz again.
        self.quizzes: dict[Conversation, QuizItem] = {}
        # The page each learner reads in each lesson, so /lesson resumes there (lost on restart:
        # the lesson then opens at its first page again).
        self.reading: dict[tuple[int, str, str], int] = {}
        self.confirmations: dict[int, tuple[str, float]] = {}
        """Pending ``/forget`` confirmations: learner -> (nonce, expiry in monotonic seconds)."""

    def memory(self, conversation: Conversation) -> deque[tuple[Turn, frozenset[str]]]:
        """The remembered turns of one conversation (created empty on first use)."""
        return self._memory[conversation]

    def conversations(self) -> list[Conversation]:
        """The conversations that hold a follow-up memory."""
        return list(self._memory)

    def window(self, learner_id: int) -> deque[float]:
        """The times of the learner's recent questions (created empty on first use)."""
        return self._windows[learner_id].times

    def reset_window(self, learner_id: int) -> None:
        """Start the learner's question rate afresh (their accounts were just joined)."""
        self._windows.pop(learner_id, None)

    def forget(self, learner_id: int, chats: Iterable[tuple[str, str]] = ()) -> int:
        """Drop everything held about an erased learner.

        Memory and waiting quizzes are kept per conversation, so in a shared channel the whole
        thread's memory goes (it may hold the learner's questions).

        Args:
            learner_id: The erased learner.
            chats: ``(platform, chat id)`` pairs the learner used, and their identities (a direct
                chat's id is often the user's id).

        Returns:
            The number of conversations cleared.
        """
        chats = set(chats)
        cleared = 0
        for held in (self._memory, self.quizzes):
            for key in [k for k in held if (k[0], k[1]) in chats]:
                del held[key]
                cleared += 1
        self._windows.pop(learner_id, None)
        self.confirmations.pop(learner_id, None)
        for key in [key for key in self.reading if key[0] == learner_id]:
            del self.reading[key]
        return cleared


@dataclass(frozen=True)
class ChatContext:
    """One message as a handler sees it: built once by the router, shared by every handler it reaches.

    Example:
        >>> ctx = ChatContext(message, learner_id=7, now=now, state=state)
        >>> replies = await handler(ctx, "argument")
    """

    message: IncomingMessage
    learner_id: int
    """The learner who sent it (resolved once, when the message arrived)."""
    now: datetime
    """The bot's wall clock when the message arrived."""
    state: ConversationState


Handler = Callable[[ChatContext, str], Awaitable[list[Reply]]]
"""A command or button handler: the context and the command's argument (or the button data's rest)."""
