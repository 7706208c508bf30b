"""The front desk as a separate process (on another computer, in a building): changes the staff
list in the shared database through the services, then prints the moment the change was
committed (wall clock, seconds since the epoch) as its last line.

    python tests/postgres/desk.py URL enroll PHOTO NUMBER NAME
    python tests/postgres/desk.py URL suspend NUMBER
    python tests/postgres/desk.py URL delete NUMBER
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from turnstile.app import AppContext  # noqa: E402
from turnstile.storage import repositories as repo  # noqa: E402


def main(argv: list[str]) -> int:
    url, action, *rest = argv
    ctx = AppContext(database_url=url)
    try:
        if action == "enroll":
            photo, number, name = rest
            result = ctx.enrollment.enroll(photo, employee_number=number, name=name,
                                           consent=True)
            with ctx.db.session() as s:
                # Written just before the commit: the figure errs on the slow side.
                committed_at = repo.get_employee(s, result.employee_id).created_at.timestamp()
        else:
            (number,) = rest
            with ctx.db.session() as s:
                person = repo.get_employee_by_number(s, number)
                if action == "suspend":
                    repo.set_employee_status(s, person.id, "suspended")
                elif action == "delete":
                    repo.delete_employee(s, person.id)
                else:
                    raise SystemExit(f"unknown action {action!r}")
            committed_at = time.time()  # the session block above has committed
    finally:
        ctx.close()
    print(f"{committed_at:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
