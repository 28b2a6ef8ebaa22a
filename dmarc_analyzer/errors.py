"""The exceptions dmarc-analyzer raises.

Library code raises these; only the command line decides what they mean for
the exit status. Every message is one line, fit to show a user as it is.
"""


class DmarcAnalyzerError(Exception):
    """Base class of every error this package raises on purpose."""


class ReportRefused(DmarcAnalyzerError):
    """A file or payload is not a DMARC aggregate report we can store.

    The message says why in one line ("not XML: ...", "missing report_id").
    """


class OtherReportType(ReportRefused):
    """A DMARC failure (forensic) or SMTP TLS report: a report, but not an
    aggregate one. A mailbox fetch sets such messages aside on their own."""


class NoAggregateReport(ReportRefused):
    """An e-mail message with nothing in it that could be a report: a
    mailbox's other mail, told apart from a report that is broken."""


class DatabaseError(DmarcAnalyzerError):
    """The database cannot be opened, migrated or written."""


class DnsCheckNotStored(DatabaseError):
    """A `dns check` ran, but its findings could not be stored; `check`
    holds them, to be shown all the same."""

    def __init__(self, message: str, check):
        super().__init__(message)
        self.check = check


class SettingsError(DmarcAnalyzerError):
    """The settings file cannot be read, or holds a wrong value."""


class MailboxError(DmarcAnalyzerError):
    """The mailbox cannot be reached, read, or tidied (IMAP, Maildir, mbox)."""


class DnsUnavailable(DmarcAnalyzerError):
    """No DNS server answered any lookup of a `dns check`: the resolver
    asked is down or unreachable, so nothing was learnt about the records."""


class MessageError(MailboxError):
    """One message of a mailbox cannot be read or moved; the others can be,
    and the fetch goes on with them."""


class FolderNameError(DmarcAnalyzerError):
    """An archive folder name that cannot work with this mailbox: the
    source itself, a wildcard on IMAP, a path out of a Maildir. Checked
    before anything is fetched; the command line makes it a usage error."""
