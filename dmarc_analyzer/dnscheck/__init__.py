"""`dns check`: the DNS records DKIM and DMARC depend on, as receivers see
them. DKIM key records of the selectors seen in the reports (dkim.py), the
domains' DMARC and SPF records (policy.py, with checkdmarc), each problem a
finding linked to the failures the receivers reported (run.py)."""
