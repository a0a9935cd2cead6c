"""The conversation: the router, one context per message, and the handlers by feature.

``router`` routes a message (command, button, file, quiz answer or question) to a handler;
``context`` holds :class:`~bot.chat.context.ChatContext` (built once per message) and
:class:`~bot.chat.context.ConversationState` (what the bot remembers between messages, with
``forget()``); ``texts`` the shared wording; ``callbacks`` the buttons' callback data; ``topics`` what
the catalogue views ask for the topics they name; ``learning``, ``preferences``, ``premium``,
``rights``, ``recommend`` and ``uploads`` the handlers.
"""
