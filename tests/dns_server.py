"""A small authoritative DNS server on 127.0.0.1 for tests: real UDP, real
wire format (dnspython builds the messages), answers from a dict.

    with DnsServer({"1.2.0.192.in-addr.arpa.": {"PTR": ["mx.example.com."]}}) as s:
        s.address  # "127.0.0.1:PORT"

A name maps to its records by type, or to SERVFAIL (the server fails),
REFUSED (it will not answer for the name) or SILENT (it never answers: the
client times out). A CNAME is
followed within the zone, as an authoritative server does.
"""

import contextlib
import socketserver
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

SERVFAIL = "SERVFAIL"
SILENT = "SILENT"
REFUSED = "REFUSED"


class DnsServer:
    def __init__(
        self, records: dict[str, dict[str, list[str] | str]], delay: float = 0
    ):
        self.records = {name.lower(): answers for name, answers in records.items()}
        self.delay = delay
        self.queries = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                answer = server.answer(data)
                if answer is None:
                    return
                # The server may have stopped while this answer was delayed.
                with contextlib.suppress(OSError):
                    sock.sendto(answer, self.client_address)

        self._server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"

    def answer(self, data: bytes) -> bytes | None:
        with self._lock:
            self.queries += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._respond(data)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _respond(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        type_name = dns.rdatatype.to_text(question.rdtype)
        for _ in range(24):  # a CNAME chain, loops cut short
            answers = self.records.get(name)
            if answers == SILENT:
                return None
            if answers in (SERVFAIL, REFUSED):
                response.set_rcode(dns.rcode.from_text(answers))
                break
            if answers is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                break
            target = answers.get("CNAME")
            if target and type_name != "CNAME":
                response.answer.append(
                    dns.rrset.from_text_list(name, 300, "IN", "CNAME", target)
                )
                name = target[0].lower()
                continue
            values = answers.get(type_name, [])
            if values:
                response.answer.append(
                    dns.rrset.from_text_list(name, 300, "IN", type_name, values)
                )
            break
        return response.to_wire()

    def __enter__(self) -> "DnsServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
