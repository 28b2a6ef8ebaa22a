"""A real IMAP server for the tests: Debian's Dovecot on 127.0.0.1, run as
an unprivileged process with a configuration of its own.

Any user name logs in with the one password (a static passdb), each with a
Maildir of its own: a test that picks a new user name starts from an empty
mailbox without starting another server. The user `PREFIXED_USER` sees its
folders under the namespace prefix `INBOX.`, as on a Courier server.

It listens for plain IMAP (with
STARTTLS) on `port` and for IMAP over TLS on `tls_port`, with a self-signed
certificate for 127.0.0.1 in `certificate`.
"""

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = Path("/usr/sbin/dovecot")
PASSWORD = "test-password"
PREFIXED_USER = "courier-style"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = passwd-file
  args = {root}/users
  default_fields = uid={user} gid={group} home={root}/home/%u
  override_fields = namespace/inbox/prefix=INBOX.
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = .
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotServer:
    """Start with `start()`, stop with `stop()`; `port` is where it listens."""

    def __init__(self, workdir: Path | None = None):
        # Dovecot will not run its login process as root: under root the
        # server runs as "nobody", in a folder that user can write (pytest's
        # own temporary folders are private to root).
        self.as_root = os.geteuid() == 0
        if self.as_root or workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="dmarc-analyzer-imap-"))
        self.root = workdir
        self.port, self.tls_port = _free_port(), _free_port()
        self.certificate = self.root / "cert.pem"
        self.process: subprocess.Popen | None = None

    def start(self) -> "DovecotServer":
        account = pwd.getpwnam("nobody") if self.as_root else pwd.getpwuid(os.getuid())
        group = _group_name(account.pw_gid)
        _self_signed_certificate(self.certificate, self.root / "key.pem")
        config = self.root / "dovecot.conf"
        config.write_text(
            CONFIG.format(
                root=self.root,
                user=account.pw_name,
                group=group,
                password=PASSWORD,
                port=self.port,
                tls_port=self.tls_port,
            )
        )
        (self.root / "users").write_text(f"{PREFIXED_USER}::::::\n")
        if self.as_root:
            for path in [self.root, *self.root.iterdir()]:
                shutil.chown(path, account.pw_uid, account.pw_gid)

        self.process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)],
            user=account.pw_uid if self.as_root else None,
            group=account.pw_gid if self.as_root else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_until_listening()
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                errors = self.process.stderr.read().decode(errors="replace")
                raise RuntimeError(f"dovecot stopped: {errors}{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen in time: {self.log()}")


def _self_signed_certificate(certificate: Path, key: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name
