"""Import reports from where they arrive: an IMAP folder, a Maildir, an mbox.

`run.py` stores each message's reports and then tidies the message away;
`imap.py` and `local.py` are the mailboxes, behind the small interface of
`mailbox.py`.
"""
