"""tests/dns_server.py in a process of its own, as a real resolver would be:
its threads must not compete with the lookups for the interpreter.

    python benchmarks/dns_server_process.py IPS DELAY

Prints the server's address, then answers each line read from stdin with
the number of queries received so far; ends at end of input.
"""

import ipaddress
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dns_server import DnsServer


def addresses(count: int) -> list[str]:
    first = ipaddress.IPv4Address("10.0.0.1")
    return [str(first + number) for number in range(count)]


def zone(ips: list[str]) -> dict:
    """A PTR for every address, and the A record that confirms it."""
    records = {}
    for number, address in enumerate(ips):
        name = f"host-{number}.bench.example."
        reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
        records[reverse] = {"PTR": [name]}
        records[name] = {"A": [address]}
    return records


def main() -> None:
    count, delay = int(sys.argv[1]), float(sys.argv[2])
    with DnsServer(zone(addresses(count)), delay=delay) as server:
        print(server.address, flush=True)
        for _ in sys.stdin:
            print(server.queries, flush=True)


if __name__ == "__main__":
    main()
