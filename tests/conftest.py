"""Shared fixtures: databases on SQLite and on the real PostgreSQL server,
the report corpus, and helpers to build small reports in tests."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dmarc_analyzer.config import CONFIG_ENV
from dmarc_analyzer.storage.database import Database

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "sample_reports"
DATA = Path(__file__).resolve().parent / "data"

# The PostgreSQL server the machine runs; tests make a database of their own.
POSTGRES_SERVER = os.environ.get(
    "DMARC_ANALYZER_TEST_POSTGRES",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)


def pytest_collection_modifyitems(items):
    if not CORPUS.is_dir():
        raise pytest.UsageError(f"the report corpus is missing: {CORPUS}")


@pytest.fixture(autouse=True, scope="session")
def no_settings_file_of_the_user(tmp_path_factory) -> Iterator[None]:
    """A settings file in the tester's ~/.config would change what commands
    do (their database, senders file, output folder): the tests see none."""
    saved = {name: os.environ.get(name) for name in ("XDG_CONFIG_HOME", CONFIG_ENV)}
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    os.environ.pop(CONFIG_ENV, None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, tmp_path) -> Iterator[str]:
    """A new, empty database on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def database(database_url) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.close()


class postgres_database:
    """Create a uniquely named PostgreSQL database, drop it afterwards."""

    def __init__(self):
        self.name = f"dmarc_test_{uuid.uuid4().hex[:12]}"
        self.server = create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")

    def __enter__(self) -> str:
        with self.server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        return (
            make_url(POSTGRES_SERVER)
            .set(database=self.name)
            .render_as_string(hide_password=False)
        )

    def __exit__(self, *exc) -> None:
        with self.server.connect() as connection:
            connection.execute(
                text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            )
        self.server.dispose()


def report_xml(
    records: str,
    *,
    org_name: str = "receiver.example",
    report_id: str = "r-1",
    domain: str = "example.com",
    begin: int = 1700000000,
    end: int = 1700086399,
    policy: str = "<adkim>r</adkim><aspf>r</aspf><p>none</p>",
    root: str = "<feedback>",
) -> bytes:
    """A minimal aggregate report around the given <record> elements."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{root}<version>1.0</version>'
        f"<report_metadata><org_name>{org_name}</org_name>"
        f"<email>dmarc@{org_name}</email><report_id>{report_id}</report_id>"
        f"<date_range><begin>{begin}</begin><end>{end}</end></date_range>"
        f"</report_metadata><policy_published><domain>{domain}</domain>{policy}"
        f"</policy_published>{records}</feedback>"
    ).encode()


def record_xml(
    ip: str = "192.0.2.1",
    count: int = 1,
    *,
    dkim: str = "pass",
    spf: str = "pass",
    header_from: str = "example.com",
    auth: str = "<spf><domain>example.com</domain><result>pass</result></spf>",
    extra_evaluated: str = "",
) -> str:
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count>"
        f"<policy_evaluated><disposition>none</disposition><dkim>{dkim}</dkim>"
        f"<spf>{spf}</spf>{extra_evaluated}</policy_evaluated></row>"
        f"<identifiers><header_from>{header_from}</header_from></identifiers>"
        f"<auth_results>{auth}</auth_results></record>"
    )
