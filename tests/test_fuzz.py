"""A mutation fuzz over the real corpus: files with bytes flipped, inserted,
deleted or cut off, as they are and once compressed, must each be stored or
refused with one line naming the problem; never another exception, never a
hang. Seeded, so a failure can be replayed: it names the case (number, file,
packing and mutations)."""

import gzip
import io
import random
import signal
import zipfile

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.ingest.pipeline import ingest_file
from tests.conftest import CORPUS

SEED = 6
CASES = 300
SECONDS_PER_CASE = 10
FILES = sorted(
    path for path in CORPUS.rglob("*") if path.is_file() and path.parent != CORPUS
)
# The corpus's own gzip, zip and e-mail files, a handful among thousands of
# XML files: picked a quarter of the time.
CONTAINERS = [path for path in FILES if path.suffix in (".gz", ".zip", ".eml")]
# Bytes that mean something to a parser of XML, gzip, zip or e-mail.
TOKENS = [
    b"<",
    b">",
    b"&",
    b"&foo;",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"]]>",
    b"<!DOCTYPE f [<!ENTITY a 'aa'>]>",
    b"</feedback>",
    b"<record>",
    b"\x1f\x8b",
    b"PK\x03\x04",
    b"\r\n\r\n",
    b"From x\n",
]


def _packed(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            # A fixed date: the same seed must give the same bytes.
            info = zipfile.ZipInfo("report.xml", date_time=(2026, 12, 3, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        return buffer.getvalue()
    return data


def _mutated(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """`data` with one to three random mutations, and what they were."""
    done = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        where = rng.randrange(len(data) + 1)
        kind = rng.choice(["flip", "insert", "token", "delete", "truncate", "repeat"])
        if kind == "flip" and data:
            where = min(where, len(data) - 1)
            data = (
                data[:where]
                + bytes([data[where] ^ rng.randint(1, 255)])
                + data[where + 1 :]
            )
        elif kind == "insert":
            data = data[:where] + rng.randbytes(rng.randint(1, 16)) + data[where:]
        elif kind == "token":
            data = data[:where] + rng.choice(TOKENS) + data[where:]
        elif kind == "delete":
            data = data[:where] + data[where + rng.randint(1, 64) :]
        elif kind == "truncate":
            data = data[:where]
        elif kind == "repeat":
            data = (
                data[:where]
                + data[where : where + rng.randint(1, 512)] * 2
                + data[where:]
            )
        done.append(f"{kind}@{where}")
    return data, "+".join(done)


def _cases() -> list[tuple[str, bytes]]:
    rng = random.Random(SEED)
    cases = []
    for number in range(CASES):
        path = rng.choice(CONTAINERS if rng.random() < 0.25 else FILES)
        how = rng.choice(["raw", "raw", "gzip", "zip"])
        data, mutations = _mutated(_packed(path.read_bytes(), how), rng)
        name = f"{number}-{path.name[:40]}-{how}-{mutations}"
        cases.append((name, data))
    return cases


class _Hang(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Hang


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    database = api.open_database(f"sqlite:///{folder / 'fuzz.sqlite'}")
    yield database, folder
    database.close()


def test_mutated_corpus_files_are_stored_or_refused_cleanly(database):
    database, folder = database
    path = folder / "case"
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    failures, outcomes = [], {"stored": 0, "refused": 0}
    try:
        for name, data in _cases():
            path.write_bytes(data)
            signal.alarm(SECONDS_PER_CASE)
            try:
                result = ingest_file(database, path)
                outcomes["stored"] += 1
                assert result.outcome.added + result.outcome.duplicates >= 1
            except ReportRefused as error:
                outcomes["refused"] += 1
                message = str(error)
                if not message or "\n" in message or len(message) > 1000:
                    failures.append(f"{name}: refusal not one line: {message!r}")
            except _Hang:
                failures.append(f"{name}: more than {SECONDS_PER_CASE} s")
            except Exception as error:  # what the fuzz is looking for
                failures.append(f"{name}: {type(error).__name__}: {error}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)

    assert failures == []
    # Some damage leaves a report (a changed value, a repaired byte): the
    # fuzz reaches the records, not only the checks of containers and markup.
    assert outcomes["stored"] >= CASES // 20 and outcomes["refused"] >= CASES // 2
