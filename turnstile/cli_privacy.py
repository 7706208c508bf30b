"""CLI commands for data protection: verify the access log, rotate the data key, apply the
retention policy, export what is stored about one person.

``turnstile logs verify [--json]``, ``turnstile keys rotate``,
``turnstile retention run [--dry-run] [--json]``,
``turnstile employees export-data NUMBER --out DIR``. All need an admin (:data:`ROLES`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnstile.app import AppContext

ADMIN = "admin"


def add_parsers(verbs: Any, groups: dict[str, Any], common: list[argparse.ArgumentParser]
                ) -> None:
    """Add the commands to the parser (see ``turnstile.cli._EXTENSIONS``)."""
    verify = groups["logs"].add_parser(
        "verify", parents=common,
        help="check that no access event was changed, deleted or reordered")
    verify.add_argument("--json", action="store_true",
                        help="print the result as JSON (keys ok, events, first_bad, reason)")

    keys = verbs.add_parser("keys", help="the encryption key of the stored faces")
    keys_verbs = keys.add_subparsers(dest="keys_verb", metavar="ACTION", required=True)
    keys_verbs.add_parser(
        "rotate", parents=common,
        help="make a new key, re-encrypt every face and snapshot with it, delete the old key")

    retention = verbs.add_parser("retention", help="delete data older than the settings allow")
    retention_verbs = retention.add_subparsers(dest="retention_verb", metavar="ACTION",
                                               required=True)
    run = retention_verbs.add_parser(
        "run", parents=common,
        help="erase old snapshots, old access events and long-suspended people now")
    run.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    run.add_argument("--json", action="store_true", help="print the report as JSON")

    export = groups["employees"].add_parser(
        "export-data", parents=common,
        help="write everything stored about one person to a folder (GDPR right of access)")
    export.add_argument("number", metavar="NUMBER", help="the employee number")
    export.add_argument("--out", metavar="DIR", required=True, type=Path,
                        help="the folder to write the export into (a new folder is made in it)")


def _logs_verify(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import EXIT_ERROR, EXIT_OK, _print_json
    from turnstile.services import log_chain

    report = log_chain.verify(ctx.db)
    if args.json:
        _print_json(report.as_dict())
    elif report.ok:
        since = (f" since the retention checkpoint after event {report.checkpoint}"
                 if report.checkpoint is not None else "")
        print(f"The access log is intact: {report.events} event"
              f"{'' if report.events == 1 else 's'} checked{since}.")
    else:
        where = f" (first bad event: {report.first_bad})" if report.first_bad is not None else ""
        print(f"The access log was tampered with{where}: {report.reason}")
    return EXIT_OK if report.ok else EXIT_ERROR


def _keys_rotate(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import EXIT_OK, _say
    from turnstile.services.privacy import compact_database
    from turnstile.storage import crypto

    report = crypto.rotate_key(ctx.db)
    compact_database(ctx.db)
    _say(f"New key {report.new_key_id} in {crypto.keys().backend.describe()}.")
    print(f"Key rotated: {report.templates} face template{'' if report.templates == 1 else 's'}"
          f" and {report.snapshots} snapshot{'' if report.snapshots == 1 else 's'} "
          f"re-encrypted, {report.checkpoints} log checkpoint"
          f"{'' if report.checkpoints == 1 else 's'} re-signed; "
          f"{len(report.old_key_ids)} old key{'' if len(report.old_key_ids) == 1 else 's'} "
          f"deleted.")
    return EXIT_OK


def _retention_run(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import EXIT_ERROR, EXIT_OK, _print_json, _say
    from turnstile.services.retention import run_retention

    settings = ctx.settings
    if (settings.retention_days_snapshots is None and settings.retention_days_events is None
            and settings.retention_days_suspended is None):
        _say("No retention period is set (retention_days_snapshots, retention_days_events, "
             "retention_days_suspended in the settings): nothing is deleted.")
    report = run_retention(ctx.db, settings, dry_run=args.dry_run)
    if args.json:
        _print_json({"dry_run": report.dry_run, "snapshots": report.snapshots,
                     "events": report.events, "people": list(report.people),
                     "checkpoint_event_id": report.checkpoint_event_id,
                     "problems": list(report.problems)})
    else:
        verb = "would be deleted" if report.dry_run else "deleted"
        print(f"Snapshots {verb}: {report.snapshots}; access events {verb}: {report.events}; "
              f"suspended people {verb}: {len(report.people)}.")
        for problem in report.problems:
            _say(problem)
    return EXIT_ERROR if report.problems else EXIT_OK


def _employees_export_data(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import EXIT_OK
    from turnstile.services.privacy import export_data
    from turnstile.storage import repositories as repo

    with ctx.db.session() as s:
        employee_id = repo.get_employee_by_number(s, args.number).id
    report = export_data(ctx.db, employee_id, args.out)
    print(f"Exported to {report.folder}: {report.templates} face template"
          f"{'' if report.templates == 1 else 's'} ({report.photos} photo"
          f"{'' if report.photos == 1 else 's'}), {report.events} access event"
          f"{'' if report.events == 1 else 's'} ({report.snapshots} snapshot"
          f"{'' if report.snapshots == 1 else 's'}). The folder holds personal data: hand it "
          f"over securely and delete it afterwards.")
    return EXIT_OK


HANDLERS: dict[tuple[str, ...], Callable[[argparse.Namespace, AppContext], int]] = {
    ("logs", "verify"): _logs_verify,
    ("keys", "rotate"): _keys_rotate,
    ("retention", "run"): _retention_run,
    ("employees", "export-data"): _employees_export_data,
}

ROLES: dict[tuple[str, ...], str] = {path: ADMIN for path in HANDLERS}
"""Every command here is admin work."""
