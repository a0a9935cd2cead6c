"""``learnbot learner export|erase ID``: a learner's data rights from the admin's terminal.

``ID`` is a learner id (``12``) or a platform identity (``telegram:12345``, ``slack:U0123``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bot.cli import common
from bot.rights import erase_learner, erase_message, export_learner

learner_cli = typer.Typer(help="A learner's data: export it, erase it.", no_args_is_help=True)


@learner_cli.command("export")
def learner_export(
    who: str = typer.Argument(..., help="Learner id, or PLATFORM:USER_ID (telegram:12345, slack:U0123)."),
    output: Path = typer.Option(None, "--out", "-o", help="Write the JSON here instead of printing it."),
) -> None:
    """Print (or write) everything stored about one learner, as JSON."""
    store = common.open_app().store
    data = export_learner(store, common.learner(store, who))
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output is None:
        print(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    rows = sum(len(r) for r in data["tables"].values())
    common.out.print(f"wrote {rows} rows from {len(data['tables'])} tables to {output}", highlight=False)


@learner_cli.command("erase")
def learner_erase(
    who: str = typer.Argument(..., help="Learner id, or PLATFORM:USER_ID."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase one learner on every linked identity; payment rows are kept, pseudonymised."""
    store = common.open_app().store
    learner_id = common.learner(store, who)
    identities = ", ".join(f"{p}:{u}" for p, u in store.learner_identities(learner_id)) or "no identities"
    if not yes and not typer.confirm(f"Erase learner {learner_id} ({identities})? This cannot be undone"):
        raise common.CliError("nothing erased")
    report = erase_learner(store, learner_id)
    details = ", ".join(f"{table} {n}" for table, n in sorted(report.deleted.items()))
    common.out.print(f"erased learner {learner_id}: {details}", highlight=False)
    if report.payments_kept:
        common.out.print(f"kept {report.payments_kept} payment rows, pseudonymised", highlight=False)
    common.out.print(f"the learner would read: {erase_message(report)}", style="dim", highlight=False)
