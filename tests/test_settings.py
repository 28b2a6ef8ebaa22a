"""The settings file: where it is looked for, what it may hold, and that a
mistake in it is said rather than ignored."""

from datetime import timedelta
from pathlib import Path

import pytest

from dmarc_analyzer.config import (
    CONFIG_ENV,
    ArchiveFolders,
    ImapSettings,
    find_settings_file,
    imap_password,
    load_settings,
    parse_duration,
)
from dmarc_analyzer.errors import SettingsError

FULL = """
database = "dmarc.sqlite"
output = "reports"
senders_file = "~/senders.toml"
retention = "57w"

[imap]
host = "imap.example.com"
security = "starttls"
user = "dmarc@example.com"
password_file = "secrets/imap"
folder = "INBOX.DMARC"
batch_size = 20

[mbox]
path = "/var/mail/dmarc"

[archive]
processed = "Archive.DMARC"
"""


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(content)
    return path


def test_every_setting_read_paths_taken_from_the_file_folder(tmp_path):
    settings = load_settings(write(tmp_path, FULL))

    assert settings.database == f"{tmp_path}/dmarc.sqlite"
    assert settings.output == tmp_path / "reports"
    assert settings.senders_file == Path.home() / "senders.toml"
    assert settings.retention == timedelta(weeks=57)
    assert settings.imap.effective_port == 143
    assert settings.imap.password_file == tmp_path / "secrets/imap"
    assert settings.imap.batch_size == 20
    assert settings.mbox == Path("/var/mail/dmarc")
    assert settings.archive == ArchiveFolders(processed="Archive.DMARC")


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_settings_file() is None

    xdg = tmp_path / "xdg/dmarc-analyzer/config.toml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("")
    assert find_settings_file() == xdg

    (tmp_path / "dmarc-analyzer.toml").write_text("")
    assert find_settings_file() == Path("dmarc-analyzer.toml")

    monkeypatch.setenv(CONFIG_ENV, "/elsewhere.toml")
    assert find_settings_file() == Path("/elsewhere.toml")
    assert find_settings_file(Path("given.toml")) == Path("given.toml")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("databse = 'x'", "databse: unknown setting"),
        ("[imap]\npassword = 'hunter2'", "holds no password"),
        ("[imap]\nport = '993'", "imap.port: expected a positive integer"),
        ("[imap]\nsecurity = 'ssl'", "imap.security: one of tls, starttls, plain"),
        ("retention = '400'", "not a duration"),
        ("retention = '9999999999d'", "more than 100 years"),
        ("[imap]\nport = 70000", "imap.port: at most 65535"),
        ("imap = 3", "expected a table"),
        ("[archive]\ndone = 'x'", "archive.done: unknown setting"),
        ("database = ", "not valid TOML"),
    ],
)
def test_mistakes_are_errors(tmp_path, content, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(write(tmp_path, content))


def test_a_named_file_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_password_from_file_first_line_or_environment(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("MY_PW", "from-env")

    assert imap_password(ImapSettings(password_file=tmp_path / "pw")) == "s3cret"
    assert imap_password(ImapSettings(password_env="MY_PW")) == "from-env"
    with pytest.raises(SettingsError, match=r"no IMAP password: set \$NOT_SET"):
        imap_password(ImapSettings(password_env="NOT_SET"))


def test_an_empty_password_or_variable_name_is_refused(tmp_path):
    (tmp_path / "pw").write_text("\nsecond line\n")
    (tmp_path / "none").write_text("")

    for empty in ("pw", "none"):
        with pytest.raises(SettingsError, match="empty first line"):
            imap_password(ImapSettings(password_file=tmp_path / empty))
    with pytest.raises(SettingsError, match="name is empty"):
        imap_password(ImapSettings(password_env=""))


@pytest.mark.parametrize(("text", "days"), [("400d", 400), ("57w", 399), (" 1D ", 1)])
def test_durations(text, days):
    assert parse_duration(text) == timedelta(days=days)
