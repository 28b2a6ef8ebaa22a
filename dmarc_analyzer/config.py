"""The settings file: the mailbox, the database and the folders of a
scheduled run, so that the weekly job is `fetch imap && summary`.

It is TOML, looked for in this order: `--config FILE`, `$DMARC_ANALYZER_CONFIG`,
`./dmarc-analyzer.toml`, `$XDG_CONFIG_HOME/dmarc-analyzer/config.toml`
(`~/.config/...` by default). When none is found every setting has its
default. Paths in the file are taken from the file's own folder, so that a
job started from anywhere finds the same files. Options on the command line
win over the file.

The file never holds a password: it names a file or an environment variable
that does.
"""

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dmarc_analyzer.errors import SettingsError

CONFIG_ENV = "DMARC_ANALYZER_CONFIG"
PASSWORD_ENV = "DMARC_ANALYZER_IMAP_PASSWORD"
LOCAL_CONFIG = Path("dmarc-analyzer.toml")

SECURITY = ("tls", "starttls", "plain")
_DURATION = re.compile(r"\s*(\d+)\s*([dw])\s*", re.IGNORECASE)
# Beyond this a cutoff date falls before year 1 and datetime overflows.
MAX_DURATION_DAYS = 100 * 366
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class ArchiveFolders:
    """Where messages go once dealt with: folder names on an IMAP server,
    sub-folders of a Maildir, mbox files beside an mbox."""

    processed: str = "dmarc-processed"
    invalid: str = "dmarc-invalid"
    other_reports: str = "dmarc-other-reports"


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str | None = None
    port: int | None = None
    security: str = "tls"
    user: str | None = None
    password_env: str = PASSWORD_ENV
    password_file: Path | None = None
    ca_file: Path | None = None
    folder: str = "INBOX"
    batch_size: int = 50
    timeout: float = 60.0

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.security == "tls" else 143


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the settings file can hold; `path` is where it was read."""

    path: Path | None = None
    database: str | None = None
    output: Path | None = None
    senders_file: Path | None = None
    retention: timedelta | None = None
    imap: ImapSettings = field(default_factory=ImapSettings)
    maildir: Path | None = None
    mbox: Path | None = None
    archive: ArchiveFolders = field(default_factory=ArchiveFolders)


def find_settings_file(explicit: Path | None = None) -> Path | None:
    """The settings file to read: the one named, else the first that exists
    of $DMARC_ANALYZER_CONFIG, ./dmarc-analyzer.toml and the XDG one."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    for candidate in (LOCAL_CONFIG, Path(config_home) / "dmarc-analyzer/config.toml"):
        if candidate.is_file():
            return candidate
    return None


def load_settings(explicit: Path | None = None) -> Settings:
    """Read the settings file (see `find_settings_file`); none: defaults.
    A file named but missing, broken TOML or a wrong value: SettingsError."""
    path = find_settings_file(explicit)
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(Path(path).expanduser().read_text("utf-8"))
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from error
    return parse_settings(data, Path(path))


def parse_settings(data: dict, path: Path) -> Settings:
    reader = _Reader(data, path, "")
    top = reader.take(
        "database",
        "output",
        "senders_file",
        "retention",
        "imap",
        "maildir",
        "mbox",
        "archive",
    )
    archive = reader.table("archive")

    retention = top.text("retention")
    if retention is not None:
        retention = parse_duration(retention, f"{path}: retention")
    database = top.text("database")
    if database is not None and "://" not in database:
        database = str(top.path("database"))  # a SQLite file beside the settings
    return Settings(
        path=path,
        database=database,
        output=top.path("output"),
        senders_file=top.path("senders_file"),
        retention=retention,
        imap=_imap(reader.table("imap")),
        maildir=reader.table("maildir").path("path"),
        mbox=reader.table("mbox").path("path"),
        archive=ArchiveFolders(
            **{
                key: archive.text(key)
                for key in ("processed", "invalid", "other_reports")
                if archive.text(key)
            }
        ),
    )


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """'400d' or '57w' as a timedelta."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise SettingsError(f"{what}: {text!r} is not a duration such as 400d or 57w")
    if int(match.group(1)) == 0:
        raise SettingsError(f"{what}: {text!r} is too short: the minimum is 1d")
    days = int(match.group(1)) * (7 if match.group(2).lower() == "w" else 1)
    if days > MAX_DURATION_DAYS:
        raise SettingsError(f"{what}: {text!r} is more than 100 years")
    return timedelta(days=days)


def imap_password(imap: ImapSettings) -> str:
    """The password from its file (first line), else its environment variable."""
    if imap.password_file is not None:
        try:
            text = imap.password_file.expanduser().read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(
                f"cannot read the password file {imap.password_file}: {error}"
            ) from error
        password = text.splitlines()[0] if text else ""
        if not password:
            raise SettingsError(
                f"the password file {imap.password_file} has an empty first line"
            )
        return password
    if not imap.password_env:
        raise SettingsError("no IMAP password: the variable's name is empty")
    password = os.environ.get(imap.password_env)
    if password is None:
        raise SettingsError(
            f"no IMAP password: set ${imap.password_env} or give a password file"
        )
    return password


def _imap(table: "_Reader") -> ImapSettings:
    if "password" in table.data:
        raise SettingsError(
            f"{table.where}password: the settings file holds no password; "
            "name a password_file or a password_env instead"
        )
    values = {
        "host": table.text("host"),
        "port": table.integer("port", MAX_PORT),
        "security": table.choice("security", SECURITY),
        "user": table.text("user"),
        "password_env": table.text("password_env"),
        "password_file": table.path("password_file"),
        "ca_file": table.path("ca_file"),
        "folder": table.text("folder"),
        "batch_size": table.integer("batch_size"),
        "timeout": table.integer("timeout"),
    }
    table.take(*values)
    return ImapSettings(**{k: v for k, v in values.items() if v is not None})


class _Reader:
    """Typed values of one table of the file; unknown keys are errors, so a
    typo does not silently leave a setting at its default."""

    def __init__(self, data: dict, path: Path, prefix: str):
        self.data, self.file, self.prefix = data, path, prefix

    @property
    def where(self) -> str:
        return f"{self.file}: {self.prefix}"

    def take(self, *keys: str) -> "_Reader":
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            raise SettingsError(f"{self.where}{unknown[0]}: unknown setting")
        return self

    def table(self, key: str) -> "_Reader":
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise SettingsError(f"{self.where}{key}: expected a table [{key}]")
        reader = _Reader(value, self.file, f"{key}.")
        if key in ("maildir", "mbox"):
            reader.take("path")
        elif key == "archive":
            reader.take("processed", "invalid", "other_reports")
        return reader

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SettingsError(f"{self.where}{key}: expected a non-empty string")
        return value

    def integer(self, key: str, maximum: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value <= 0
        ):
            raise SettingsError(f"{self.where}{key}: expected a positive integer")
        if value is not None and maximum is not None and value > maximum:
            raise SettingsError(f"{self.where}{key}: at most {maximum}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str | None:
        value = self.text(key)
        if value is not None and value not in allowed:
            raise SettingsError(f"{self.where}{key}: one of {', '.join(allowed)}")
        return value

    def path(self, key: str) -> Path | None:
        value = self.text(key)
        if value is None:
            return None
        return self.file.parent / Path(value).expanduser()
