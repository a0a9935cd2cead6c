"""A local fake Telegram Bot API server, so tests run the real python-telegram-bot ``Application``.

It speaks enough of the Bot API for Learnbot: ``getMe``, long-polled ``getUpdates`` fed from a queue
the test fills (honouring ``offset``), the send/edit/answer methods, ``getFile`` and the file
download route. Every call is recorded with its decoded parameters.

Example:
    >>> async with FakeTelegram() as server:
    ...     server.push(text_update(ADA, "/start"))
    ...     sent = await server.wait_for("sendMessage")
    ...     assert "Hi Ada" in sent[0].params["text"]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.fakes.common import FakeServer

TOKEN = "123456:TEST-token-not-a-secret"
BOT_USER = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Learnbot",
    "username": "learnbot_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Form fields PTB sends JSON-encoded (everything else is a plain string).
_JSON_FIELDS = {
    "reply_markup",
    "commands",
    "scope",
    "allowed_updates",
    "link_preview_options",
    "reply_parameters",
    "entities",
    "caption_entities",
    "prices",
}
_update_ids = itertools.count(1000)
_message_ids = itertools.count(1)


def user(user_id: int = 42, first_name: str = "Ada", language_code: str = "en") -> dict[str, Any]:
    """A Telegram ``User`` (a learner)."""
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}


def _chat(sender: dict[str, Any]) -> dict[str, Any]:
    return {"id": sender["id"], "type": "private", "first_name": sender["first_name"]}


def _message(sender: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": _chat(sender),
        "from": sender,
        **fields,
    }


def text_update(sender: dict[str, Any], text: str, *, update_id: int | None = None) -> dict[str, Any]:
    """An update with a text message; a leading ``/command`` gets its ``bot_command`` entity."""
    fields: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split(" ", 1)[0]
        fields["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id or next(_update_ids), "message": _message(sender, **fields)}


def callback_update(
    sender: dict[str, Any], data: str, *, message_id: int = 1, update_id: int | None = None
) -> dict[str, Any]:
    """An update for a press of an inline button (carrying ``data``) under the bot's message."""
    bot_message = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": _chat(sender),
        "from": BOT_USER,
        "text": "an answer",
    }
    query = {
        "id": f"cq-{next(_update_ids)}",
        "from": sender,
        "chat_instance": "instance-1",
        "message": bot_message,
        "data": data,
    }
    return {"update_id": update_id or next(_update_ids), "callback_query": query}


def document_update(
    sender: dict[str, Any],
    file_id: str,
    file_name: str,
    file_size: int,
    *,
    caption: str = "",
    update_id: int | None = None,
) -> dict[str, Any]:
    """An update with a document; register its bytes with :meth:`FakeTelegram.add_file` first."""
    document = {
        "file_id": file_id,
        "file_unique_id": f"u-{file_id}",
        "file_name": file_name,
        "file_size": file_size,
        "mime_type": "application/octet-stream",
    }
    fields: dict[str, Any] = {"document": document}
    if caption:
        fields["caption"] = caption
    return {"update_id": update_id or next(_update_ids), "message": _message(sender, **fields)}


def pre_checkout_update(
    sender: dict[str, Any], payload: str, amount: int, *, currency: str = "XTR", update_id: int | None = None
) -> dict[str, Any]:
    """An update asking the bot to confirm a checkout (the user pressed Pay on an invoice)."""
    query = {
        "id": f"pcq-{next(_update_ids)}",
        "from": sender,
        "currency": currency,
        "total_amount": amount,
        "invoice_payload": payload,
    }
    return {"update_id": update_id or next(_update_ids), "pre_checkout_query": query}


def successful_payment_update(
    sender: dict[str, Any],
    payload: str,
    amount: int,
    charge_id: str,
    *,
    currency: str = "XTR",
    subscription_expiration_date: int | None = None,
    is_recurring: bool = False,
    is_first_recurring: bool = False,
    update_id: int | None = None,
) -> dict[str, Any]:
    """An update with the ``successful_payment`` service message (a payment or a subscription renewal)."""
    paid: dict[str, Any] = {
        "currency": currency,
        "total_amount": amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    if subscription_expiration_date is not None:
        paid["subscription_expiration_date"] = subscription_expiration_date
    if is_recurring:
        paid["is_recurring"] = True
    if is_first_recurring:
        paid["is_first_recurring"] = True
    return {"update_id": update_id or next(_update_ids), "message": _message(sender, successful_payment=paid)}


def refunded_payment_update(
    sender: dict[str, Any], payload: str, amount: int, charge_id: str, *, update_id: int | None = None
) -> dict[str, Any]:
    """An update with the ``refunded_payment`` service message (Telegram refunded a Stars payment)."""
    refunded = {
        "currency": "XTR",
        "total_amount": amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
    }
    message = _message(sender, refunded_payment=refunded)
    return {"update_id": update_id or next(_update_ids), "message": message}


class ApiError(Exception):
    """A Bot API method's error answer (``ok: false``)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class Call:
    """One Bot API call the bot made: the method, its decoded parameters and any uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # when the call arrived (for load measurements)


class FakeTelegram(FakeServer[Call]):
    """An aiohttp app on 127.0.0.1 (random port) answering Bot API calls for one bot token."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self._pending: list[dict[str, Any]] = []
        self.charges: dict[str, dict[str, Any]] = {}
        """Stars charges paid through pushed updates, by charge id: ``user_id``, ``refunded``."""

    @property
    def root(self) -> str:
        """The server root, the value of ``LEARNBOT_TELEGRAM_API_URL``."""
        return f"http://127.0.0.1:{self.port}"

    def push(self, *updates: dict[str, Any]) -> None:
        """Queue updates for the bot's next ``getUpdates``."""
        for update in updates:
            paid = (update.get("message") or {}).get("successful_payment")
            if paid:
                user_id = update["message"]["from"]["id"]
                charge = {"user_id": user_id, "refunded": False}
                self.charges.setdefault(paid["telegram_payment_charge_id"], charge)
            self.updates.put_nowait(update)

    def add_file(self, file_id: str, content: bytes, file_path: str = "") -> None:
        """Make a file downloadable through ``getFile``."""
        self.files[file_id] = (file_path or f"documents/{file_id}", content)

    def routes(self, app: web.Application) -> None:
        """The Bot API methods and the file download route."""
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    # -- HTTP ------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        self.calls.append(Call(method, params, files))
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params, request)})
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except ApiError as exc:
            return _error(exc.code, exc.description)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for file_path, content in self.files.values():
            if file_path == request.match_info["path"]:
                return web.Response(body=content, content_type="application/octet-stream")
        return web.Response(status=404)

    # -- Bot API methods -------------------------------------------------------------------

    async def _getMe(self, params: dict[str, Any]) -> Any:  # noqa: N802 - Bot API names
        return BOT_USER

    async def _get_updates(self, params: dict[str, Any], request: web.Request) -> Any:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            while not self.updates.empty():
                self._pending.append(self.updates.get_nowait())
            # Telegram forgets updates below the offset: the bot confirmed them.
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            if self._pending or time.monotonic() >= deadline:
                return list(self._pending)
            if request.transport is None or request.transport.is_closing():
                return []  # the bot gave up on this poll (it is stopping)
            # Polling the queue (not awaiting it) lets an abandoned long poll and its successor
            # both see a new update at once.
            await asyncio.sleep(0.01)

    async def _deleteWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _setWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _setMyCommands(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _sendChatAction(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._sent(params, text=params.get("text", ""))

    async def _editMessageText(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._sent(params, text=params.get("text", ""), message_id=int(params.get("message_id", 1)))

    async def _sendMessageDraft(self, params: dict[str, Any]) -> Any:  # noqa: N802
        if int(params.get("chat_id", 0)) <= 0:  # Bot API 9.3: drafts only in private chats
            raise ApiError(400, "Bad Request: drafts can be sent only to private chats")
        return True

    async def _deleteMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _sendPhoto(self, params: dict[str, Any]) -> Any:  # noqa: N802
        photo = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 640, "height": 480}]
        return self._sent(params, photo=photo, caption=params.get("caption"))

    async def _sendDocument(self, params: dict[str, Any]) -> Any:  # noqa: N802
        document = {"file_id": "doc-1", "file_unique_id": "d1", "file_name": "file"}
        return self._sent(params, document=document, caption=params.get("caption"))

    async def _sendInvoice(self, params: dict[str, Any]) -> Any:  # noqa: N802
        invoice = {
            "title": params.get("title", ""),
            "description": params.get("description", ""),
            "start_parameter": "",
            "currency": params.get("currency", ""),
            "total_amount": sum(int(p["amount"]) for p in params.get("prices", [])),
        }
        return self._sent(params, invoice=invoice)

    async def _createInvoiceLink(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return f"https://t.me/$fake-invoice-{next(_message_ids)}"

    async def _answerPreCheckoutQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        if str(params.get("ok")).lower() not in ("true", "1") and not params.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is required when ok is false")
        return True

    async def _refundStarPayment(self, params: dict[str, Any]) -> Any:  # noqa: N802
        charge = self.charges.get(str(params.get("telegram_payment_charge_id", "")))
        if charge is None or int(params.get("user_id", 0)) != charge["user_id"]:
            raise ApiError(400, "Bad Request: CHARGE_NOT_FOUND")
        if charge["refunded"]:
            raise ApiError(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        charge["refunded"] = True
        return True

    async def _editUserStarSubscription(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _getFile(self, params: dict[str, Any]) -> Any:  # noqa: N802
        file_id = params.get("file_id", "")
        file_path, content = self.files.get(file_id, ("", b""))
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(content),
            "file_path": file_path,
        }

    def _sent(self, params: dict[str, Any], message_id: int | None = None, **fields: Any) -> dict[str, Any]:
        """The ``Message`` the bot just sent, as Telegram returns it."""
        chat_id = int(params.get("chat_id", 0))
        message = {
            "message_id": message_id or next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT_USER,
            **{k: v for k, v in fields.items() if v is not None},
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Decode a JSON, form or multipart body (PTB sends forms with JSON-encoded complex fields)."""
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params.update(await request.json())
        return params, files
    if request.can_read_body:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = value.file.read()
            elif name in _JSON_FIELDS:
                params[name] = json.loads(str(value))
            else:
                params[name] = value
    return params, files


def _error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)
