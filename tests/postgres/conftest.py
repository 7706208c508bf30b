"""A real PostgreSQL server for the tests of several doors on one database.

``TURNSTILE_TEST_PG_URL`` names a server and a role allowed to create databases, e.g.
``postgresql+psycopg://turnstile:turnstile@127.0.0.1:55432/turnstile`` (``.ci/run`` installs
Debian's server, starts a throwaway cluster and sets it). Each test gets a new, empty
database on it, dropped afterwards. Without the variable these tests skip, saying why; with
``TURNSTILE_REQUIRE_PG=1`` (as in CI) they fail instead, so a missing server is never a
quiet green.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL_ENV = "TURNSTILE_TEST_PG_URL"
REQUIRE_ENV = "TURNSTILE_REQUIRE_PG"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: PostgreSQL is required here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The server's URL (its own database), checked to answer."""
    url = os.environ.get(PG_URL_ENV, "").strip()
    if not url:
        _unavailable(f"no PostgreSQL server: set {PG_URL_ENV}=postgresql+psycopg://USER:PW@"
                     f"HOST:PORT/DB (a role that may create databases); .ci/run starts one")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the PostgreSQL driver is not installed: pip install 'psycopg[binary]'")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 (any failure to connect means: no server)
        _unavailable(f"the PostgreSQL server at {PG_URL_ENV} does not answer: "
                     f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the test server (dropped after the test, with
    any connection a station process left open)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"turnstile_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
