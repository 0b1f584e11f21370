"""Where a hook may point: http(s) URLs, and in production no loopback or private address.

In production mode (``CHIPLAB_WEBHOOK_REFUSE_PRIVATE``, on by default there) a URL whose host
resolves to a loopback, link-local, private, shared, reserved or multicast address is refused,
so that a lab cannot make the server probe its own network; an operator exempts networks with
``CHIPLAB_WEBHOOK_ALLOWED_NETWORKS``. The check runs when a hook is saved and again before
each delivery, which then connects to the address it checked (no second lookup to rebind).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from common.errors import Invalid

MAX_URL_LENGTH = 2000

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL's host resolves to an address deliveries may not reach."""


class Unresolved(Exception):
    """The host name did not resolve (may pass: DNS hiccup)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query string


def parse(url: str) -> Target:
    """Split and check a hook URL; anything unusable is an ``Invalid`` naming the field."""

    def bad(problem: str) -> Invalid:
        return Invalid(f"url: {problem}", fields={"url": [problem]})

    url = (url or "").strip()
    if not url:
        raise bad("required.")
    if len(url) > MAX_URL_LENGTH:
        raise bad(f"at most {MAX_URL_LENGTH} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise bad("spaces and control characters are not allowed.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise bad(f"not a valid URL ({err}).") from None
    if parts.scheme not in {"http", "https"}:
        raise bad("must start with http:// or https://.")
    if not parts.hostname:
        raise bad("names no host.")
    if parts.username is not None or parts.password is not None:
        raise bad("credentials in the URL are not allowed; the signature authenticates us.")
    if parts.fragment:
        raise bad("a #fragment is never sent; leave it out.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(n, strict=False) for n in settings.CHIPLAB_WEBHOOK_ALLOWED_NETWORKS
    ]


def _plain(address: Address) -> Address:
    """``::ffff:10.0.0.1`` is 10.0.0.1."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_internal(address: Address) -> bool:
    """Loopback, link-local, private, shared (CGNAT), reserved, unspecified or multicast."""
    address = _plain(address)
    return not address.is_global or address.is_multicast


def permitted(address: Address) -> bool:
    """Whether deliveries may connect to ``address`` under this server's settings."""
    if not settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE:
        return True
    address = _plain(address)
    if any(address in network for network in _allowed_networks()):
        return True
    return not is_internal(address)


def resolve(target: Target) -> list[Address]:
    """Every address ``target.host`` resolves to (an IP literal is itself)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise Unresolved(f"{target.host} does not resolve ({err}).") from None
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Unresolved(f"{target.host} does not resolve.")
    return found


def checked(target: Target) -> list[Address]:
    """The addresses of ``target``, all of them permitted; ``Refused`` if any is not.

    Refusing when any address is internal (not only the first) keeps a name that resolves
    to both a public and a private address from reaching the private one.
    """
    addresses = resolve(target)
    refused = [a for a in addresses if not permitted(a)]
    if refused:
        raise Refused(
            f"{target.host} resolves to {refused[0]}, a loopback, link-local or private "
            "address, which this server does not deliver to (an operator can allow it with "
            "CHIPLAB_WEBHOOK_ALLOWED_NETWORKS)."
        )
    return addresses


def url_check(url: str) -> str:
    """The cleaned URL of a hook being saved; refused as ``Invalid`` like any bad field."""
    target = parse(url)
    if settings.CHIPLAB_WEBHOOK_REFUSE_PRIVATE:
        try:
            checked(target)
        except (Refused, Unresolved) as err:
            raise Invalid(f"url: {err}", code="url_refused", fields={"url": [str(err)]}) from None
    return url.strip()
