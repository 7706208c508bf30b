"""``turnstile accounts ...`` and ``turnstile audit ...``: operator accounts and the audit trail
from the command line.

Examples::

    turnstile accounts add alice --role admin          # the first admin (data folder owner)
    turnstile --user alice accounts add bob --role front_desk
    turnstile --user alice accounts list
    turnstile --user bob accounts passwd bob           # a front desk changes their own
    turnstile --user alice accounts disable bob
    turnstile --user alice audit list --action delete --from 2025-01-01
    turnstile --user alice audit export --csv audit.csv

New passwords are asked for twice in the terminal, or read from the first line of stdin with
``--password-stdin`` (for scripts: ``printf '%s\\n' "$PW" | turnstile ... --password-stdin``).
They never appear on the command line, where other users could read them in the process
list.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnstile.app import AppContext

ROLE_CHOICES = ("front_desk", "admin")


def add_parsers(verbs: Any, groups: dict[str, Any], common: list[argparse.ArgumentParser]
                ) -> None:
    """Add ``accounts`` and ``audit`` (see :data:`turnstile.cli._EXTENSIONS`)."""
    accounts = verbs.add_parser("accounts", help="operator accounts (admin)")
    acts = accounts.add_subparsers(dest="accounts_verb", metavar="ACTION", required=True)
    add = acts.add_parser("add", parents=common, help="create an account",
                          description="Create an account. Before any account exists, the OS "
                                      "user who owns the data folder creates the first one "
                                      "(it must be an admin) without --user.")
    add.add_argument("name", help="the user name")
    add.add_argument("--role", choices=ROLE_CHOICES, required=True,
                     help="front_desk (enroll and edit people) or admin (everything)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the new password from the first line of stdin")
    listing = acts.add_parser("list", parents=common, help="list the accounts")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    passwd = acts.add_parser("passwd", parents=common,
                             help="set a new password (a front desk: their own only)")
    passwd.add_argument("name", help="the user name")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the new password from the first line of stdin")
    for action, text in (("disable", "stop an account from logging in"),
                         ("enable", "let a disabled or locked-out account log in again")):
        sub = acts.add_parser(action, parents=common, help=text)
        sub.add_argument("name", help="the user name")
    role = acts.add_parser("set-role", parents=common, help="change an account's role")
    role.add_argument("name", help="the user name")
    role.add_argument("role", choices=ROLE_CHOICES)

    audit = verbs.add_parser("audit", help="the audit trail: who did what, when (admin)")
    audit_verbs = audit.add_subparsers(dest="audit_verb", metavar="ACTION", required=True)
    show = audit_verbs.add_parser("list", parents=common, help="show audit entries")
    _add_filters(show)
    show.add_argument("--limit", type=int, default=100, metavar="N",
                      help="at most N entries, newest first (default 100)")
    show.add_argument("--json", action="store_true", help="print a JSON array")
    export = audit_verbs.add_parser("export", parents=common, help="export entries as CSV")
    export.add_argument("--csv", type=Path, required=True, metavar="FILE",
                        help="the CSV file to write (UTF-8, replaced if it exists)")
    _add_filters(export)


def _add_filters(sub: argparse.ArgumentParser) -> None:
    from turnstile.cli import DATE_HELP

    sub.add_argument("--from", dest="date_from", metavar="DATE", default=None,
                     help=f"entries from this moment ({DATE_HELP})")
    sub.add_argument("--to", dest="date_to", metavar="DATE", default=None,
                     help=f"entries up to this moment; a date includes the whole day "
                          f"({DATE_HELP})")
    sub.add_argument("--actor", metavar="NAME", default=None, help="entries of this actor")
    sub.add_argument("--action", metavar="A", action="append", default=None,
                     help="entries of this action (repeat for several), e.g. login_failed")
    sub.add_argument("--search", metavar="TEXT", default=None,
                     help="text anywhere in the actor, action, target or detail")
    sub.add_argument("--failed", action="store_true", help="only failures and refusals")


# --- accounts -----------------------------------------------------------------------------


def _new_password(args: argparse.Namespace, username: str) -> str:
    import getpass

    from turnstile.cli import CommandError

    if args.password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise CommandError("--password-stdin: stdin held no password.")
        return password
    if not sys.stdin or not sys.stdin.isatty():
        raise CommandError("No terminal to ask for the new password in: use --password-stdin.")
    first = getpass.getpass(f"New password for {username}: ")
    if getpass.getpass("The same password again: ") != first:
        raise CommandError("The two passwords differ; nothing was changed.")
    return first


def _accounts_add(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.services.auth import check_password_policy, normalize_username, role_label

    name = normalize_username(args.name)
    if ctx.auth.has_accounts() and ctx.current_user is None:
        from turnstile.cli import AccessDenied

        raise AccessDenied("An account exists already: log in with --user to add another.")
    password = _new_password(args, name)
    check_password_policy(password, name)
    info = ctx.auth.create_account(name, password, args.role, actor=ctx.actor)
    print(f"Account {info.username!r} created ({role_label(info.role)}).")
    return 0


def _accounts_list(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import _iso, _print_json, _shown_moment
    from turnstile.services.auth import role_label
    from turnstile.storage.models import utcnow

    now = utcnow()
    accounts = ctx.auth.list_accounts()
    if args.json:
        _print_json([{"id": a.id, "username": a.username, "role": a.role,
                      "disabled": a.disabled, "locked": a.locked(now),
                      "failed_logins": a.failed_count, "created_at": _iso(a.created_at),
                      "last_login": _iso(a.last_login)} for a in accounts])
        return 0
    if not accounts:
        print("No accounts yet.")
        return 0
    width = max(len(a.username) for a in accounts)
    for a in accounts:
        state = "disabled" if a.disabled else "locked" if a.locked(now) else "active"
        last = _shown_moment(a.last_login) if a.last_login else "never"
        print(f"{a.username:<{width}}  {role_label(a.role):<10}  {state:<8}  last login {last}")
    return 0


def _accounts_passwd(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import AccessDenied
    from turnstile.services import audit as audit_actions
    from turnstile.services.auth import normalize_username

    name = normalize_username(args.name)
    user = ctx.current_user
    if user is not None and not user.has_role("admin") and user.username != name:
        ctx.audit(audit_actions.PERMISSION_DENIED, "turnstile accounts passwd",
                  f"a front desk may change only their own password (target {name})",
                  success=False)
        raise AccessDenied("A front desk account may change only its own password.")
    ctx.auth.get_account(name)  # a clear error before asking for a password
    ctx.auth.change_password(name, _new_password(args, name), actor=ctx.actor)
    print(f"Password of {name!r} changed.")
    return 0


def _set_disabled(args: argparse.Namespace, ctx: AppContext, disabled: bool) -> int:
    info = ctx.auth.set_disabled(args.name, disabled, actor=ctx.actor)
    print(f"Account {info.username!r} is now {'disabled' if disabled else 'enabled'}.")
    return 0


def _accounts_disable(args: argparse.Namespace, ctx: AppContext) -> int:
    return _set_disabled(args, ctx, True)


def _accounts_enable(args: argparse.Namespace, ctx: AppContext) -> int:
    return _set_disabled(args, ctx, False)


def _accounts_set_role(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.services.auth import role_label

    info = ctx.auth.set_role(args.name, args.role, actor=ctx.actor)
    print(f"Account {info.username!r} is now {role_label(info.role)}.")
    return 0


# --- audit --------------------------------------------------------------------------------


def _filter(args: argparse.Namespace) -> Any:
    from turnstile.cli import CommandError, parse_moment
    from turnstile.services.audit import AuditFilter

    start = parse_moment(args.date_from, "--from") if args.date_from else None
    end = parse_moment(args.date_to, "--to", end_of_day=True) if args.date_to else None
    if end is not None:
        end += timedelta(microseconds=1)  # --to is inclusive, the filter's end is not
    if start is not None and end is not None and start >= end:
        raise CommandError("--from is after --to: no entry can match.")
    actions = tuple(a.strip() for a in args.action if a.strip()) if args.action else None
    return AuditFilter(start=start, end=end, actor=args.actor, actions=actions or None,
                       text=args.search, success=False if args.failed else None)


def _audit_list(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.cli import CommandError, _iso, _print_json, _shown_moment

    if args.limit < 1:
        raise CommandError("--limit must be at least 1.")
    entries = ctx.audit_trail.query(_filter(args), limit=args.limit)
    if args.json:
        _print_json([{"id": e.id, "at": _iso(e.at), "actor": e.actor, "action": e.action,
                      "target": e.target, "detail": e.detail, "success": e.success}
                     for e in entries])
        return 0
    if not entries:
        print("No audit entries match.")
        return 0
    for e in entries:
        mark = "" if e.success else " [FAILED]"
        target = f" {e.target}" if e.target else ""
        detail = f" - {e.detail}" if e.detail else ""
        print(f"{_shown_moment(e.at)}  {e.actor}: {e.action}{target}{mark}{detail}")
    return 0


def _audit_export(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.services import audit as audit_actions

    rows = ctx.audit_trail.export_csv(args.csv, _filter(args))
    ctx.audit(audit_actions.AUDIT_EXPORT, f"file {args.csv.name}",
              f"command line; {rows} entries")
    print(f"Exported {rows} audit entr{'y' if rows == 1 else 'ies'} to {args.csv}.")
    return 0


HANDLERS = {
    ("accounts", "add"): _accounts_add,
    ("accounts", "list"): _accounts_list,
    ("accounts", "passwd"): _accounts_passwd,
    ("accounts", "disable"): _accounts_disable,
    ("accounts", "enable"): _accounts_enable,
    ("accounts", "set-role"): _accounts_set_role,
    ("audit", "list"): _audit_list,
    ("audit", "export"): _audit_export,
}

ROLES: dict[tuple[str, ...], str | None] = {
    **{path: "admin" for path in HANDLERS},
    # Anyone logged in may change their own password (the handler checks whose).
    ("accounts", "passwd"): "front_desk",
}
"""Everything here is admin work, except changing one's own password."""

SELF_AUDITED = frozenset(HANDLERS)
"""The account service and :func:`_audit_export` record these themselves (reading the
accounts or the trail changes nothing and is not recorded)."""
