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


class DatabaseError(DmarcAnalyzerError):
    """The database cannot be opened, migrated or written."""
