"""``python -m bot.cli``: the same as the ``learnbot`` console script."""

from bot.cli import main

main()
