"""The command line: the same use cases as the window, for scripts and admins.

Exit codes: 0 success (for ``verify``: the same person; for ``identify``: known and allowed
in), 1 an error (the message on stderr says what is wrong; nothing was half-written), 2 a
command line that cannot be parsed, 3 a negative answer (``verify``: not the same person;
``identify``: unknown, unsure or not allowed in), 4 not allowed (no login, a wrong password,
a locked account, or a role that may not run the command), 130 interrupted.

Logins: commands that change who may enter (enroll, import, employees edit / suspend /
activate / add-photo) need a front-desk or admin account; deleting people, exporting the
access log, accounts, the audit trail and every extension command that does not say
otherwise need an admin. Give ``--user NAME``; the password is asked for in the terminal,
or read from the environment variable ``TURNSTILE_PASSWORD`` (for scripts). Before any
account exists, only the OS user who owns the data folder may run those commands (recorded
in the audit trail as ``os:<login>``); ``turnstile accounts add NAME --role admin`` creates
the first admin. Every such command is recorded in the audit trail.

Output meant for people and scripts goes to stdout; messages, warnings and progress bars go
to stderr. Ids, employee numbers, names and scores are printed; embeddings never are.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnstile import __version__
from turnstile.errors import TurnstileError

if TYPE_CHECKING:
    from turnstile.app import AppContext
    from turnstile.services.recognition import IdentifyResult, PersonInfo
    from turnstile.storage.models import Employee

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO = 3
"""A negative answer, not an error: not the same person, or nobody allowed in."""
EXIT_DENIED = 4
"""Not allowed: no login, a wrong password, a locked account or a role too low."""
EXIT_INTERRUPTED = 130

STATUSES = ("active", "suspended")
DATE_HELP = "YYYY-MM-DD (UTC) or ISO 8601 with an offset, e.g. 2025-03-01T08:00:00+01:00"
PASSWORD_ENV = "TURNSTILE_PASSWORD"
"""Environment variable holding the password of ``--user`` (for scripts)."""
FRONT_DESK = "front_desk"
ADMIN = "admin"


class CommandError(TurnstileError):
    """A value on the command line that cannot be used (the message says why)."""


# --- the parser ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnstile",
        description="Turnstile opens a door for enrolled employees recognised by face. "
                    "Without a command it starts the desktop app.",
        epilog="Exit codes: 0 success, 1 error, 2 bad command line, 3 a negative answer "
               "(verify: not the same person; identify: unknown, unsure or refused).",
    )
    parser.add_argument("--version", action="version", version=f"turnstile {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--db", metavar="URL", default=None,
                        help="SQLAlchemy database URL (default: turnstile.db in the user data "
                             "folder, or the settings' database_url)")
    parser.add_argument("--source", metavar="SOURCE", default=None,
                        help="the door camera: a webcam index (0), a video file or a stream URL")
    parser.add_argument("--demo", action="store_true",
                        help="use the built-in demo video instead of a camera")
    parser.add_argument("--user", metavar="NAME", default=None,
                        help=f"the account to run a command that changes data as (the "
                             f"password is asked for, or read from {PASSWORD_ENV})")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND")

    # --db is also accepted after the verb ("turnstile enroll ... --db URL"); SUPPRESS keeps
    # the subparser from overwriting a --db given before the verb.
    db_option = argparse.ArgumentParser(add_help=False)
    db_option.add_argument("--db", metavar="URL", default=argparse.SUPPRESS,
                           help="SQLAlchemy database URL (same as before the command)")
    db_option.add_argument("--user", metavar="NAME", default=argparse.SUPPRESS,
                           help="the account to log in as (same as before the command)")
    common = [db_option]

    _add_eval_parsers(verbs)

    enroll = verbs.add_parser("enroll", parents=common, help="add a person from one photo",
                              description="Add a person from one photo of their face.")
    enroll.add_argument("photo", type=Path, help="the photo (JPEG, PNG, ...)")
    enroll.add_argument("--number", required=True, help="the employee number (unique)")
    enroll.add_argument("--name", required=True, help="the person's name")
    enroll.add_argument("--department", default=None)
    enroll.add_argument("--valid-from", metavar="DATE", default=None,
                        help=f"may pass from this moment ({DATE_HELP})")
    enroll.add_argument("--valid-until", metavar="DATE", default=None,
                        help=f"may pass until this moment; a date includes the whole day "
                             f"({DATE_HELP})")
    enroll.add_argument("--consent", action="store_true",
                        help="the person has agreed to have their face stored (required)")
    _add_photo_options(enroll)
    enroll.add_argument("--json", action="store_true", help="print one JSON object")

    employees = verbs.add_parser("employees", help="list, show, edit, suspend, delete people")
    emp = employees.add_subparsers(dest="employees_verb", metavar="ACTION", required=True)
    listing = emp.add_parser("list", parents=common, help="list employees")
    listing.add_argument("--search", metavar="TEXT", default=None,
                         help="text in the name, number or department")
    listing.add_argument("--status", choices=STATUSES, default=None)
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = emp.add_parser("show", parents=common, help="show one employee and their photos")
    show.add_argument("number", help="the employee number")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    edit = emp.add_parser("edit", parents=common,
                          help="change details (an empty value clears an optional field)")
    edit.add_argument("number", help="the employee number")
    edit.add_argument("--name", default=None)
    edit.add_argument("--department", default=None, help='a new department ("" clears it)')
    edit.add_argument("--valid-from", metavar="DATE", default=None,
                      help=f'{DATE_HELP}; "" clears it')
    edit.add_argument("--valid-until", metavar="DATE", default=None,
                      help=f'{DATE_HELP}; a date includes the whole day; "" clears it')
    edit.add_argument("--number", dest="new_number", metavar="NEW", default=None,
                      help="a new employee number")
    for action, text in (("suspend", "keep the door shut for them (reversible)"),
                         ("activate", "let them in again")):
        sub = emp.add_parser(action, parents=common, help=text)
        sub.add_argument("number", help="the employee number")
    delete = emp.add_parser("delete", parents=common,
                            help="delete a person, their face photos and their snapshots")
    delete.add_argument("number", help="the employee number")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion")
    add_photo = emp.add_parser("add-photo", parents=common,
                               help="add a photo of an enrolled person (or replace theirs)")
    add_photo.add_argument("number", help="the employee number")
    add_photo.add_argument("photo", type=Path)
    add_photo.add_argument("--replace", action="store_true",
                           help="delete their other photos (re-enroll from this one)")
    _add_photo_options(add_photo)

    verify = verbs.add_parser("verify", parents=common,
                              help='1:1: is the person in the photo this employee?',
                              description="Exit code 0: the same person; 3: not the same "
                                          "person; 1: an error.")
    verify.add_argument("number", help="the employee number")
    verify.add_argument("photo", type=Path)
    verify.add_argument("--json", action="store_true", help="print one JSON object")

    identify = verbs.add_parser("identify", parents=common,
                                help="1:N: who is in the photo, or nobody we know?",
                                description="Exit code 0: a known person who may pass now; "
                                            "3: unknown, unsure or not allowed in; 1: error.")
    identify.add_argument("photo", type=Path)
    identify.add_argument("--json", action="store_true", help="print one JSON object")

    logs = verbs.add_parser("logs", help="the access log")
    logs_verbs = logs.add_subparsers(dest="logs_verb", metavar="ACTION", required=True)
    export = logs_verbs.add_parser("export", parents=common, help="export events as CSV")
    export.add_argument("--csv", type=Path, required=True, metavar="FILE",
                        help="the CSV file to write (UTF-8, replaced if it exists)")
    export.add_argument("--from", dest="date_from", metavar="DATE", default=None,
                        help=f"events from this moment ({DATE_HELP})")
    export.add_argument("--to", dest="date_to", metavar="DATE", default=None,
                        help=f"events up to this moment; a date includes the whole day "
                             f"({DATE_HELP})")
    export.add_argument("--decision", metavar="D", action="append", default=None,
                        help="granted, denied, unknown, spoof or error (repeat, or separate "
                             "with commas, for several)")
    export.add_argument("--number", metavar="N", default=None,
                        help="events of this employee number")
    export.add_argument("--door", metavar="NAME", default=None, help="events at this door")

    bulk = verbs.add_parser(
        "import", parents=common, help="enroll many people from a CSV file and photos",
        description="CSV columns: employee_number, name, department, photo (a path relative "
                    "to --photos) and optionally consent (yes/no). Comma, semicolon or tab "
                    "separated; UTF-8. Re-running skips the people already enrolled. Exit "
                    "code 1 when any row was rejected.")
    bulk.add_argument("csv", type=Path, help="the CSV file")
    bulk.add_argument("--photos", type=Path, required=True, metavar="DIR",
                      help="the folder the photo paths are relative to")
    bulk.add_argument("--consent-given", action="store_true",
                      help="consent was collected (e.g. on paper) for every row that has no "
                           "consent value")
    bulk.add_argument("--force", action="store_true",
                      help="enroll faces that look like someone already enrolled")
    bulk.add_argument("--json", action="store_true", help="print the report as JSON")

    groups = {"employees": emp, "logs": logs_verbs}
    for module in _extensions():
        module.add_parsers(verbs, groups, common)
    return parser


_EXTENSIONS: tuple[str, ...] = (
    "turnstile.cli_door", "turnstile.cli_accounts",
    "turnstile.cli_calibrate", "turnstile.cli_privacy",
)
"""Modules that add commands: each has ``add_parsers(verbs, groups, common)`` (``groups``
maps "employees" and "logs" to their sub-parsers, ``common`` is the parents list with --db
and --user) and ``HANDLERS``, a dict from a command path such as ``("logs", "verify")`` or
``("calibrate",)`` to a handler ``(args, ctx) -> exit code``.

A module may also have ``ROLES``, a dict from a command path to the role it needs:
``"front_desk"``, ``"admin"``, or ``None`` for a command anyone may run (it reads nothing
personal and changes nothing). A path it does not list needs ``"admin"``. Commands that
need a role are recorded in the audit trail after they ran; a module that records its own,
richer entries lists those paths in ``SELF_AUDITED``."""

_BUILTIN_ROLES: dict[tuple[str, ...], str | None] = {
    ("enroll",): FRONT_DESK,
    ("import",): FRONT_DESK,
    ("verify",): None,
    ("identify",): None,
    ("employees", "list"): None,
    ("employees", "show"): None,
    ("employees", "edit"): FRONT_DESK,
    ("employees", "suspend"): FRONT_DESK,
    ("employees", "activate"): FRONT_DESK,
    ("employees", "add-photo"): FRONT_DESK,
    ("employees", "delete"): ADMIN,
    ("logs", "export"): ADMIN,
}
"""The role each built-in command needs (``None``: no login). Deleting people and exporting
where people went are admin work; the front desk enrolls and edits."""

_AUDIT_ACTIONS: dict[tuple[str, ...], str] = {
    ("enroll",): "enroll",
    ("import",): "import",
    ("employees", "edit"): "edit",
    ("employees", "suspend"): "suspend",
    ("employees", "activate"): "activate",
    ("employees", "add-photo"): "add_photo",
    ("employees", "delete"): "delete",
    ("logs", "export"): "export",
}
"""The audit trail's word for a built-in command (the same words the window records)."""


def _extensions() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in _EXTENSIONS]


def _extension_handler(path: tuple[str, ...]) -> Handler | None:
    for module in _extensions():
        handler = module.HANDLERS.get(path)
        if handler is not None:
            return handler
    return None


def required_role(path: tuple[str, ...]) -> str | None:
    """The role a command needs (``None``: anyone may run it)."""
    if path in _BUILTIN_ROLES:
        return _BUILTIN_ROLES[path]
    for module in _extensions():
        if path in module.HANDLERS:
            return getattr(module, "ROLES", {}).get(path, ADMIN)
    return ADMIN


def _self_audited(path: tuple[str, ...]) -> bool:
    return any(path in getattr(module, "SELF_AUDITED", ()) for module in _extensions())


def _hint(exc: TurnstileError) -> str:
    """What to type to override a refusal that a person may overrule."""
    from turnstile.services.enrollment import DuplicateFaceError, NotSamePersonError

    if isinstance(exc, (DuplicateFaceError, NotSamePersonError)):
        return " (to go ahead anyway, add --force)"
    return ""


def _add_photo_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--face", metavar="K", type=int, default=None,
                     help="in a photo of several people, take face K (0 = the largest)")
    sub.add_argument("--force", action="store_true",
                     help="enroll even though the face looks like someone already enrolled")


def _add_eval_parsers(verbs: Any) -> None:
    ev = verbs.add_parser("eval", help="measure accuracy on a standard data set")
    ev_verbs = ev.add_subparsers(dest="eval_verb", metavar="PROTOCOL", required=True)
    lfw = ev_verbs.add_parser(
        "lfw", help="LFW View-2 verification protocol (10-fold)",
        description="LFW View-2, 10-fold. The main figures are those of the model that "
                    "decides 1:1, the confirming embedder (SFace); the search embedder's "
                    "own figures follow (search_* in --json).")
    lfw.add_argument("data_dir", type=Path, help="folder with pairs.txt and images/")
    lfw.add_argument("--json", action="store_true", help="print one JSON object")
    lfw.add_argument("--plots", type=Path, default=Path("."),
                     help="folder for lfw_roc.png, lfw_scores.png and lfw_scores_search.png "
                          "(default: here)")
    lfw.add_argument("--limit-pairs", type=int, default=None,
                     help="use only the first N pairs of each fold half (quick runs)")
    lfw.add_argument("--no-flip", action="store_true",
                     help="embed without flip test-time augmentation")
    lfw.add_argument("--no-confirm", action="store_true",
                     help="without the confirming embedder: the search embedder decides")
    ident = ev_verbs.add_parser(
        "identify", help="open-set 1:N identification (FNIR at FPIR)",
        description="Open-set identification as the door decides: the search embedder's "
                    "best matches are the candidates and the confirming embedder's (SFace) "
                    "best score against them decides (cascade_* in --json); then the search "
                    "embedder's own figures, on the best score and with the runner-up margin.")
    ident.add_argument("data_dir", type=Path, help="a folder per identity, images inside")
    ident.add_argument("--json", action="store_true", help="print one JSON object")
    ident.add_argument("--plots", type=Path, default=Path("."),
                       help="folder for identify_det.png (default: here)")
    ident.add_argument("--no-flip", action="store_true",
                       help="embed without flip test-time augmentation")
    ident.add_argument("--no-confirm", action="store_true",
                       help="without the confirming embedder: the search embedder decides")
    from turnstile.evaluation.liveness import add_liveness_parser

    add_liveness_parser(ev_verbs)


# --- running ------------------------------------------------------------------------------


def run(argv: Sequence[str], ctx: AppContext | None = None) -> int:
    """Run one command and return the process exit code.

    Args:
        argv: the arguments after the program name.
        ctx: an application context to use (e.g. the window's); its database wins over
            ``--db``. By default one is built from ``--db`` and closed at the end.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, --version, or a command line argparse refused
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    _tolerant_streams()
    try:
        if args.verb is None:
            from turnstile.gui.main import run_app

            return run_app(args)
        if args.verb == "eval":
            return _eval(args)
        found = _handler(args)
        if found is not None:
            return _with_context(*found, args, ctx)
    except AccessDenied as exc:
        _say(f"turnstile: {exc}")
        return EXIT_DENIED
    except TurnstileError as exc:
        _say(f"turnstile: {exc}{_hint(exc)}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _say("turnstile: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # "turnstile employees list | head"
        return EXIT_OK
    except OSError as exc:
        _say(f"turnstile: {exc.strerror or exc}"
             f"{f': {exc.filename}' if getattr(exc, 'filename', None) else ''}")
        return EXIT_ERROR
    parser.print_help()
    return EXIT_USAGE


Handler = Callable[[argparse.Namespace, "AppContext"], int]


def _handler(args: argparse.Namespace) -> tuple[Handler, tuple[str, ...]] | None:
    if args.verb == "employees":
        path: tuple[str, ...] = ("employees", args.employees_verb)
        builtin = _EMPLOYEE_HANDLERS.get(args.employees_verb)
    elif args.verb == "logs":
        path = ("logs", args.logs_verb)
        builtin = _logs_export if args.logs_verb == "export" else None
    else:
        path = (args.verb,)
        builtin = _HANDLERS.get(args.verb)
        # An extension verb with actions of its own ("accounts add") may register either the
        # whole path or the verb alone.
        action = getattr(args, f"{args.verb.replace('-', '_')}_verb", None)
        if builtin is None and isinstance(action, str):
            longer = (args.verb, action)
            if _extension_handler(longer) is not None:
                path = longer
    handler = builtin if builtin is not None else _extension_handler(path)
    return None if handler is None else (handler, path)


def _with_context(handler: Handler, path: tuple[str, ...], args: argparse.Namespace,
                  ctx: AppContext | None) -> int:
    from turnstile.app import AppContext

    own = ctx is None
    context = AppContext(database_url=args.db) if ctx is None else ctx
    try:
        role = required_role(path)
        if role is None:
            return handler(args, context)
        authorize(context, path, role, getattr(args, "user", None))
        if _self_audited(path):
            return handler(args, context)
        try:
            code = handler(args, context)
        except BaseException as exc:
            _audit_command(context, path, args, None, type(exc).__name__)
            raise
        _audit_command(context, path, args, code)
        return code
    finally:
        if own:
            context.close()


# --- logins -------------------------------------------------------------------------------


class AccessDenied(TurnstileError):
    """The command may not run for this caller (exit code 4; the message says why)."""


def _password(username: str) -> str:
    """The password of ``--user``: from :data:`PASSWORD_ENV`, or asked in the terminal."""
    import getpass
    import os

    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    if not sys.stdin or not sys.stdin.isatty():
        raise AccessDenied(f"No password for {username!r}: run the command in a terminal to "
                           f"be asked for it, or set {PASSWORD_ENV}.")
    return getpass.getpass(f"Password for {username}: ")


def authorize(ctx: AppContext, path: tuple[str, ...], role: str, username: str | None) -> None:
    """Let the command at ``path`` run only for someone with ``role``; on success
    ``ctx.current_user`` (or ``ctx.cli_actor``) says who.

    Raises:
        AccessDenied: nobody logged in, a wrong password, a locked or disabled account, a
            role too low, or (before any account exists) not the owner of the data folder.
    """
    from turnstile.services import audit as audit_actions
    from turnstile.services.auth import (
        LoginError,
        data_folder_of,
        os_actor,
        owns_folder,
        role_allows,
        role_label,
    )

    command = "turnstile " + " ".join(path)
    if username is None and ctx.current_user is not None:  # a context already logged in
        user = ctx.current_user
    elif not ctx.auth.has_accounts():
        folder = data_folder_of(ctx.database_url)
        if username is not None:
            raise AccessDenied(
                f"No accounts exist yet, so --user {username} cannot be checked. Create the "
                f"first admin with 'turnstile accounts add NAME --role admin' (run by the "
                f"owner of {folder}, without --user).")
        ctx.cli_actor = os_actor()
        if not owns_folder(folder):
            ctx.audit(audit_actions.PERMISSION_DENIED, command,
                      "no accounts yet and not the owner of the data folder", success=False)
            raise AccessDenied(
                f"'{command}' changes data. No accounts exist yet, so only the owner of the "
                f"data folder {folder} may run it; that user creates the first admin with "
                f"'turnstile accounts add NAME --role admin'.")
        return
    elif username is None:
        raise AccessDenied(
            f"'{command}' needs a login: add --user NAME (the password is asked for, or read "
            f"from {PASSWORD_ENV}). It needs {_a(role_label(role))} account.")
    else:
        try:
            user = ctx.auth.login(username, _password(username), via="command line")
        except LoginError as exc:
            raise AccessDenied(str(exc)) from None
        ctx.current_user = user
    if not role_allows(user.role, role):
        ctx.audit(audit_actions.PERMISSION_DENIED, command,
                  f"needs {role_label(role)}; account is {role_label(user.role)}",
                  success=False)
        raise AccessDenied(f"Account {user.username!r} is {_a(role_label(user.role))} account; "
                           f"'{command}' needs {_a(role_label(role))} account.")


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def _audit_command(ctx: AppContext, path: tuple[str, ...], args: argparse.Namespace,
                   code: int | None, error: str | None = None) -> None:
    """Record a command that needed a role: who, which command, on what, which options
    (their names, never their values: a name typed in an edit is not copied here)."""
    action = _AUDIT_ACTIONS.get(path, " ".join(path))
    target = None
    if getattr(args, "new_number", None) and getattr(args, "number", None):
        target = f"employee {args.number} (now {args.new_number})"
    elif isinstance(getattr(args, "number", None), str) and path != ("logs", "export"):
        target = f"employee {args.number}"
    for name in ("csv", "photo", "path", "file", "out"):
        value = getattr(args, name, None)
        if target is None and isinstance(value, (str, Path)):
            target = f"file {Path(value).name}"
    shown_as_target = {"csv", "photo", "path", "file", "out"} | (
        {"number", "new_number"} if target and target.startswith("employee") else set())
    options = sorted(f"--{k.replace('_', '-')}" for k, v in vars(args).items()
                     if k not in {"verb", "db", "user", "verbose", "source", "demo"}
                     and k not in shown_as_target and not k.endswith("_verb")
                     and v not in (None, False, []))
    outcome = f"failed ({error})" if code is None else f"exit code {code}"
    detail = f"command line; {outcome}" + (f"; options {', '.join(options)}" if options else "")
    ctx.audit(action, target, detail, success=code == EXIT_OK)


def _tolerant_streams() -> None:
    # A console that cannot show a character (a name in Chinese on a Latin-1 terminal) gets
    # an escape sequence rather than a crash half-way through a listing.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a detached or closed stream
                pass


def _say(message: str) -> None:
    """A message for the person at the keyboard (stderr, so stdout stays parseable)."""
    print(message, file=sys.stderr)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


# --- parsing values -----------------------------------------------------------------------


def parse_moment(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """Read a date or a moment typed on the command line.

    Args:
        text: ``YYYY-MM-DD`` (midnight UTC) or ISO 8601 with a UTC offset
            (``2025-03-01T08:30:00+01:00``, ``...Z``).
        option: the option's name, for the message.
        end_of_day: for a bare date, return the last microsecond of that day (an inclusive
            end: "valid until 2025-12-31" includes the 31st).

    Raises:
        CommandError: anything else, including a time without an offset (ambiguous).
    """
    value = text.strip()
    if len(value) == 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise CommandError(f"{option}: {value!r} is not a valid date (YYYY-MM-DD).") from None
        if end_of_day:
            return day + timedelta(days=1, microseconds=-1)
        return day
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time "
                           f"with an offset (2025-03-01T08:30:00+01:00).") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CommandError(f"{option}: {value!r} has no UTC offset. Add one (+01:00, or Z for "
                           f"UTC), or give a date alone.")
    return moment.astimezone(UTC)


def _optional_moment(text: str | None, option: str, *, end_of_day: bool = False
                     ) -> datetime | None:
    return None if text is None else parse_moment(text, option, end_of_day=end_of_day)


def _photo_file(path: Path) -> str:
    if not path.exists():
        raise CommandError(f"The photo {path} does not exist.")
    if not path.is_file():
        raise CommandError(f"{path} is not a file.")
    return str(path)


# --- formatting ---------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _shown_moment(moment: datetime | None) -> str:
    """A date alone when the moment is the start or the end of a UTC day."""
    if moment is None:
        return "-"
    moment = moment.astimezone(UTC)
    if moment.time() in (datetime.min.time(), datetime.max.time()):
        return f"{moment:%Y-%m-%d}"
    return moment.isoformat(timespec="minutes").replace("+00:00", "Z")


def _width(text: str) -> int:
    """Terminal columns taken by a text (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else
               0 if unicodedata.combining(ch) else 1 for ch in text)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(_width(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [str(cell) + " " * (w - _width(str(cell))) for cell, w in zip(row, widths)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _status_now(person: PersonInfo) -> str:
    """``active``, ``suspended``, or why an active person may not pass today."""
    if person.status != "active":
        return person.status
    refusal = person.refusal()
    if refusal is None:
        return "active"
    return "expired" if refusal.startswith("expired") else "not yet valid"


def _employee_json(e: Employee, photos: int | None = None) -> dict[str, Any]:
    from turnstile.services.recognition import PersonInfo

    data = {
        "id": e.id, "employee_number": e.employee_number, "name": e.name,
        "department": e.department, "status": e.status,
        "status_now": _status_now(PersonInfo.of(e)),
        "valid_from": _iso(e.valid_from), "valid_until": _iso(e.valid_until),
        "consent_at": _iso(e.consent_at), "created_at": _iso(e.created_at),
        "updated_at": _iso(e.updated_at),
    }
    if photos is not None:
        data["photos"] = photos
    return data


# --- employees ----------------------------------------------------------------------------


def _employee_changed(ctx: AppContext, employee_id: int) -> None:
    """Keep this process's galleries and caches right after a change to a person."""
    ctx.galleries.refresh_employee(employee_id)
    ctx.recognition.forget(employee_id)


def _enroll(args: argparse.Namespace, ctx: AppContext) -> int:
    if not args.consent:
        raise CommandError("The person's consent to store their face is required. Once they "
                           "have agreed, run the command again with --consent.")
    valid_from = _optional_moment(args.valid_from, "--valid-from")
    valid_until = _optional_moment(args.valid_until, "--valid-until", end_of_day=True)
    photo = _photo_file(args.photo)
    result = ctx.enrollment.enroll(
        photo, employee_number=args.number, name=args.name, department=args.department,
        valid_from=valid_from, valid_until=valid_until, consent=True, face_index=args.face,
        force=args.force, source="photo")
    ctx.recognition.forget(result.employee_id)
    if args.json:
        _print_json({"employee_id": result.employee_id,
                     "employee_number": result.employee_number,
                     "template_id": result.template_id, "quality": result.quality.score,
                     "warnings": result.warnings})
    else:
        print(f"Enrolled employee {result.employee_number} (id {result.employee_id}): face "
              f"template {result.template_id}, quality {result.quality.score:.2f}.")
    for warning in result.warnings:
        _say(f"turnstile: warning: {warning}")
    return EXIT_OK


def _template_counts(session: Any) -> dict[int, int]:
    from sqlalchemy import func, select

    from turnstile.storage.models import FaceTemplate

    rows = session.execute(select(FaceTemplate.employee_id, func.count(FaceTemplate.id))
                           .group_by(FaceTemplate.employee_id))
    return {employee_id: count for employee_id, count in rows}


def _employees_list(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.services.recognition import PersonInfo
    from turnstile.storage import repositories as repo

    with ctx.db.session() as s:
        people = repo.list_employees(s, search=args.search, status=args.status)
        photos = _template_counts(s)
    if args.json:
        _print_json([_employee_json(e, photos.get(e.id, 0)) for e in people])
        return EXIT_OK
    if not people:
        _say("No employees match." if args.search or args.status else "No employees yet.")
        return EXIT_OK
    rows = [[e.employee_number, e.name, e.department or "-", _status_now(PersonInfo.of(e)),
             _shown_moment(e.valid_from), _shown_moment(e.valid_until),
             str(photos.get(e.id, 0))] for e in people]
    print(_table(["NUMBER", "NAME", "DEPARTMENT", "STATUS", "VALID FROM", "VALID UNTIL",
                  "PHOTOS"], rows))
    _say(f"{len(people)} employee{'' if len(people) == 1 else 's'}")
    return EXIT_OK


def _employees_show(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.services.recognition import PersonInfo
    from turnstile.storage import repositories as repo

    with ctx.db.session() as s:
        e = repo.get_employee_by_number(s, args.number)
        templates = repo.list_templates(s, e.id)
        events = repo.count_events(s, repo.EventFilter(employee_id=e.id))
    photos = [{"template_id": t.id, "model_id": t.model_id, "source": t.source,
               "source_name": t.source_name,
               "quality": None if t.quality is None else round(t.quality, 4),
               "created_at": _iso(t.created_at)} for t in templates]
    if args.json:
        _print_json({**_employee_json(e, len(templates)), "templates": photos,
                     "access_events": events})
        return EXIT_OK
    person = PersonInfo.of(e)
    refusal = person.refusal()
    status = _status_now(person) + (f" ({refusal})" if refusal and person.status == "active"
                                    else "")
    fields = [
        ("Employee number", e.employee_number), ("Name", e.name),
        ("Department", e.department or "-"), ("Status", status),
        ("Valid from", _shown_moment(e.valid_from)), ("Valid until", _shown_moment(e.valid_until)),
        ("Consent given", _shown_moment(e.consent_at)), ("Enrolled", _shown_moment(e.created_at)),
        ("Last changed", _shown_moment(e.updated_at)), ("Id", str(e.id)),
        ("Access events", str(events)),
    ]
    label = max(len(k) for k, _ in fields)
    print("\n".join(f"{k + ':':<{label + 1}} {v}" for k, v in fields))
    print(f"Face photos ({len(templates)}):")
    for t in templates:
        quality = "-" if t.quality is None else f"{t.quality:.2f}"
        source = f"{t.source} {t.source_name}" if t.source_name else t.source
        print(f"  template {t.id}: {source}, quality {quality}, model {t.model_id}, added "
              f"{_shown_moment(t.created_at)}")
    return EXIT_OK


def _employees_edit(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.storage import repositories as repo

    changes: dict[str, Any] = {}
    if args.name is not None:
        changes["name"] = args.name
    if args.department is not None:
        changes["department"] = args.department.strip() or None
    if args.valid_from is not None:
        changes["valid_from"] = (parse_moment(args.valid_from, "--valid-from")
                                 if args.valid_from.strip() else None)
    if args.valid_until is not None:
        changes["valid_until"] = (parse_moment(args.valid_until, "--valid-until",
                                               end_of_day=True)
                                  if args.valid_until.strip() else None)
    if args.new_number is not None:
        changes["employee_number"] = args.new_number
    if not changes:
        raise CommandError("Nothing to change: give --name, --department, --valid-from, "
                           "--valid-until or --number.")
    with ctx.db.session() as s:
        e = repo.get_employee_by_number(s, args.number)
        repo.update_employee(s, e.id, **changes)
        employee_id, number = e.id, e.employee_number
    _employee_changed(ctx, employee_id)
    names = {"employee_number": "number", "valid_from": "valid from",
             "valid_until": "valid until"}
    print(f"Employee {number} updated: {', '.join(names.get(k, k) for k in changes)}.")
    return EXIT_OK


def _set_status(args: argparse.Namespace, ctx: AppContext, status: str) -> int:
    from turnstile.storage import repositories as repo

    with ctx.db.session() as s:
        e = repo.get_employee_by_number(s, args.number)
        before = e.status
        if before != status:
            repo.set_employee_status(s, e.id, status)  # type: ignore[arg-type]
        employee_id, number = e.id, e.employee_number
    _employee_changed(ctx, employee_id)
    if before == status:
        print(f"Employee {number} is already {status}.")
    else:
        print(f"Employee {number} is now {status}.")
    return EXIT_OK


def _employees_suspend(args: argparse.Namespace, ctx: AppContext) -> int:
    return _set_status(args, ctx, "suspended")


def _employees_activate(args: argparse.Namespace, ctx: AppContext) -> int:
    return _set_status(args, ctx, "active")


def _employees_delete(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.storage import repositories as repo

    if not args.yes:
        with ctx.db.session() as s:
            e = repo.get_employee_by_number(s, args.number)
            photos = len(repo.list_templates(s, e.id))
        raise CommandError(
            f"This would delete employee {e.employee_number} ({e.name}), their {photos} face "
            f"photo{'' if photos == 1 else 's'} and the snapshots of their access events (the "
            f"events stay in the log, without the person). Nothing was deleted; run the "
            f"command again with --yes to delete.")
    from turnstile.services.privacy import erase_employee

    with ctx.db.session() as s:
        e = repo.get_employee_by_number(s, args.number)
        employee_id, number = e.id, e.employee_number
    # Erased, then the database compacted so the face data's bytes leave the file too.
    report = erase_employee(ctx.db, employee_id)
    counts = report.counts
    _employee_changed(ctx, employee_id)
    print(f"Deleted employee {number}: {counts.templates} face template"
          f"{'' if counts.templates == 1 else 's'}, {counts.snapshots} snapshot"
          f"{'' if counts.snapshots == 1 else 's'} erased, {counts.events_unlinked} access "
          f"event{'' if counts.events_unlinked == 1 else 's'} kept without the person.")
    if report.backups_failed:  # the erasure itself is done: still exit 0, but say it loudly
        _say(f"turnstile: warning: {report.backup_summary()}")
    elif report.backups:
        print(report.backup_summary())
    return EXIT_OK


def _employees_add_photo(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.storage import repositories as repo

    photo = _photo_file(args.photo)
    with ctx.db.session() as s:
        employee = repo.get_employee_by_number(s, args.number)
    employee_id = employee.id
    result = ctx.enrollment.add_photo(employee_id, photo, face_index=args.face,
                                      force=args.force, replace=args.replace)
    ctx.recognition.forget(employee_id)
    verb = "Replaced the face photos of" if args.replace else "Added a face photo to"
    print(f"{verb} employee {result.employee_number}: template {result.template_id}, quality "
          f"{result.quality.score:.2f}.")
    for warning in result.warnings:
        _say(f"turnstile: warning: {warning}")
    return EXIT_OK


# --- verify and identify ------------------------------------------------------------------


def _verify(args: argparse.Namespace, ctx: AppContext) -> int:
    photo = _photo_file(args.photo)
    result = ctx.recognition.verify(args.number, photo)
    person = result.person
    if result.score <= -1.0:  # the gallery holds no template of this person
        raise CommandError(f"Employee {person.employee_number} has no face enrolled for the "
                           f"current model; add one with 'turnstile employees add-photo'.")
    if args.json:
        _print_json({"same_person": result.accepted, "employee_id": person.id,
                     "employee_number": person.employee_number, "name": person.name,
                     "score": round(result.score, 4), "threshold": result.threshold,
                     "decided_by": "confirm" if result.confirmed else "search",
                     "refusal": result.refusal})
    elif result.accepted:
        note = f" Note: the door would stay shut ({result.refusal})." if result.refusal else ""
        print(f"Same person: employee {person.employee_number} ({person.name}), score "
              f"{result.score:.3f} (threshold {result.threshold:.3f}).{note}")
    else:
        print(f"Not the same person as employee {person.employee_number} ({person.name}): "
              f"score {result.score:.3f}, below the threshold {result.threshold:.3f}.")
    return EXIT_OK if result.accepted else EXIT_NO


def _identify_answer(result: IdentifyResult) -> str:
    from turnstile.matching.policy import Outcome

    outcome = result.identification.outcome
    if result.granted:
        return "granted"
    if result.refusal is not None:
        return "refused"
    return "unsure" if outcome is Outcome.UNSURE else "unknown"


def _margin_text(score: float, margin: float) -> str:
    # The gallery reports a runner-up score of -1 when nobody else is enrolled.
    if score - margin <= -1.0 + 1e-6:
        return " (nobody else enrolled to compare with)"
    return f", margin {margin:.3f} over the next person"


def _identify(args: argparse.Namespace, ctx: AppContext) -> int:
    photo = _photo_file(args.photo)
    result = ctx.recognition.identify(photo)
    thresholds = result.thresholds or ctx.recognition.thresholds
    answer = _identify_answer(result)
    ident, person = result.identification, result.person
    model = "confirm" if result.confirmed else "search"
    margin_text = "" if result.confirmed else _margin_text(ident.score, ident.margin)
    if args.json:
        _print_json({
            "answer": answer, "granted": result.granted, "outcome": ident.outcome.value,
            "employee_id": person.id if person else None,
            "employee_number": person.employee_number if person else None,
            "name": person.name if person else None,
            "score": round(ident.score, 4), "margin": round(ident.margin, 4),
            "decided_by": model, "refusal": result.refusal,
            "thresholds": {"accept": thresholds.accept, "reject": thresholds.reject,
                           "min_margin": thresholds.min_margin},
        })
    elif answer == "granted" and person is not None:
        print(f"Known: employee {person.employee_number} ({person.name}), score "
              f"{ident.score:.3f}{margin_text}. The door would open.")
    elif answer == "refused" and person is not None:
        print(f"Refused: employee {person.employee_number} ({person.name}) is recognised "
              f"(score {ident.score:.3f}) but may not pass: {result.refusal}.")
    elif answer == "unsure" and person is not None:
        needs = f"{thresholds.accept:.3f}" + (
            "" if result.confirmed else f" and a margin of {thresholds.min_margin:.3f}")
        print(f"Unsure: the closest person is employee {person.employee_number} "
              f"({person.name}), score {ident.score:.3f}{margin_text} (a match needs "
              f"{needs}).")
    else:
        print(f"Unknown: nobody enrolled matches this face (best score {ident.score:.3f}; "
              f"a match needs {thresholds.accept:.3f}).")
    return EXIT_OK if result.granted else EXIT_NO


# --- access log ---------------------------------------------------------------------------


def _decisions(values: list[str] | None) -> list[str] | None:
    from turnstile.storage.models import DECISIONS

    if not values:
        return None
    chosen = [v.strip().lower() for value in values for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in DECISIONS]
    if unknown:
        raise CommandError(f"--decision: {', '.join(unknown)} is not a decision; use "
                           f"{', '.join(DECISIONS)}.")
    return chosen or None


def _logs_export(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.services.access_log_export import export_access_log_csv
    from turnstile.storage import repositories as repo

    start = _optional_moment(args.date_from, "--from")
    end = _optional_moment(args.date_to, "--to", end_of_day=True)
    if end is not None:
        end += timedelta(microseconds=1)  # the filter's end is exclusive; --to is inclusive
    if start is not None and end is not None and start >= end:
        raise CommandError("--from is after --to: no event can match.")
    decisions = _decisions(args.decision)
    employee_id = door_id = None
    with ctx.db.session() as s:
        if args.number is not None:
            employee_id = repo.get_employee_by_number(s, args.number).id
        if args.door is not None:
            wanted = unicodedata.normalize("NFC", args.door).strip()
            doors = {d.name: d.id for d in repo.list_doors(s)}
            if wanted not in doors:
                known = ", ".join(repr(n) for n in doors) or "none yet"
                raise CommandError(f"No door is named {wanted!r} (doors: {known}).")
            door_id = doors[wanted]
    flt = repo.EventFilter(start=start, end=end, employee_id=employee_id,
                           decisions=decisions, door_id=door_id)  # type: ignore[arg-type]
    result = export_access_log_csv(ctx.db, args.csv, flt)
    print(f"Exported {result.rows} access event{'' if result.rows == 1 else 's'} to "
          f"{result.path}.")
    return EXIT_OK


# --- bulk import --------------------------------------------------------------------------


def _import(args: argparse.Namespace, ctx: AppContext) -> int:
    from turnstile.progress import ProgressBar
    from turnstile.services.bulk_import import RowResult, read_import_csv, run_import

    # Read the file first: a file that cannot be imported fails before any model loads, and
    # the bar knows its length (run_import reads it again; that takes milliseconds).
    rows = len(read_import_csv(args.csv).rows)
    bar = ProgressBar(rows, label="Importing") if rows else None

    def progress(done: int, total: int, result: RowResult) -> None:
        if bar is not None:
            bar.advance()

    try:
        report = run_import(ctx.enrollment, args.csv, args.photos,
                            consent_given=args.consent_given, force=args.force,
                            progress=progress)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        _say("turnstile: import interrupted. The rows imported so far are saved (the row in "
             "progress was not); run the same command again to import the rest.")
        return EXIT_INTERRUPTED
    if bar is not None:
        bar.close()
    if args.json:
        _print_json(report.to_json())
    else:
        print(report.to_text())
    return EXIT_OK if report.ok else EXIT_ERROR


# --- evaluation ---------------------------------------------------------------------------


def _eval(args: argparse.Namespace) -> int:
    from turnstile.app import build_pipeline

    if args.eval_verb == "lfw":
        from turnstile.evaluation.lfw import evaluate_lfw

        pipeline = build_pipeline(flip_tta=not args.no_flip, confirm=not args.no_confirm)
        report = evaluate_lfw(pipeline, args.data_dir, plot_dir=args.plots,
                              limit_pairs=args.limit_pairs)
        print(json.dumps(report.to_json()) if args.json else report.to_text())
        return EXIT_OK
    if args.eval_verb == "identify":
        from turnstile.evaluation.identify import evaluate_identify

        pipeline = build_pipeline(flip_tta=not args.no_flip, confirm=not args.no_confirm)
        ident = evaluate_identify(pipeline, args.data_dir, plot_dir=args.plots)
        print(json.dumps(ident.to_json()) if args.json else ident.to_text())
        return EXIT_OK
    if args.eval_verb == "liveness":
        from turnstile.evaluation.liveness import run_liveness_eval

        return run_liveness_eval(args)
    return EXIT_USAGE


_HANDLERS: dict[str, Handler] = {
    "enroll": _enroll,
    "verify": _verify,
    "identify": _identify,
    "import": _import,
}
_EMPLOYEE_HANDLERS: dict[str, Handler] = {
    "list": _employees_list,
    "show": _employees_show,
    "edit": _employees_edit,
    "suspend": _employees_suspend,
    "activate": _employees_activate,
    "delete": _employees_delete,
    "add-photo": _employees_add_photo,
}
