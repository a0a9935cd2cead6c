"""Local fake platform servers the tests (and ``eval/load*.py``) run the real chat libraries against.

:mod:`adapters.fakes.telegram` is a fake Bot API for python-telegram-bot, :mod:`adapters.fakes.slack`
a fake Web API for slack-bolt, :mod:`adapters.fakes.slack_requests` the signed requests Slack sends
to an app; :mod:`adapters.fakes.common` is what the servers share. No product code imports them.
"""
