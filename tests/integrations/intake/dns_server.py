"""A local DNS server (UDP, dnspython's wire format) that answers TXT queries from a dict:
where the DKIM tests publish their signing keys, as a domain's DNS would."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


@contextmanager
def txt_server(records: dict[str, str]) -> Iterator[str]:
    """Serve ``records`` (name -> TXT text) on 127.0.0.1; yields ``"127.0.0.1:<port>"``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()
    known = {name.rstrip(".").lower(): text for name, text in records.items()}

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            if question.rdtype == dns.rdatatype.TXT and name in known:
                text = known[name]
                # TXT strings are at most 255 bytes: split a long key into several.
                chunks = " ".join('"' + text[i : i + 250] + '"' for i in range(0, len(text), 250))
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", chunks))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()
