"""Which client a request comes from, for the sign-in throttle.

``X-Forwarded-For`` is a list each proxy appends to: whatever the client wrote comes first,
and Google's front end appends the address it saw the request come from. Only entries our
own proxies appended can be believed, so the client is the entry ``trusted_hops`` from the
right (1: the function's own URL, where Google's front end is the only proxy; 2 behind an
external Application Load Balancer, which appends its own address after the client's).
Counting by the leftmost entry would give a guesser a fresh counter on every try.

An IPv6 client is counted by its /64: one subscriber usually gets a whole /64 (or more) and
can pick a new address in it for every request. An IPv4-mapped IPv6 address is its IPv4.
"""

from __future__ import annotations

import ipaddress

#: The bucket of an entry that is not an address at all (a misconfigured hop count).
UNREADABLE = "unreadable"


def client_address(forwarded_for: str | None, remote_addr: str | None, trusted_hops: int) -> str:
    """The throttle bucket of the request's client: an IPv4 address or an IPv6 /64."""
    entries = [entry.strip() for entry in (forwarded_for or "").split(",") if entry.strip()]
    if entries:
        chosen = entries[-min(max(trusted_hops, 1), len(entries))]
    else:
        chosen = remote_addr or ""
    return bucket(chosen)


def bucket(text: str) -> str:
    """``203.0.113.9`` stays itself; ``2001:db8:1:2:a:b:c:d`` becomes ``2001:db8:1:2::/64``."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return UNREADABLE
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)
