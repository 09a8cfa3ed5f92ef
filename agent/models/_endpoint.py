"""Endpoint safety: model traffic stays on this machine unless a config says otherwise.

A model endpoint is allowed when its host is a loopback address (127.0.0.0/8, ``::1``,
IPv4-mapped loopback) or the name ``localhost``, or when it is listed, exactly, in the
deployment's ``allowed_hosts``. Host names are never resolved here: DNS can change, a
literal check cannot. The HTTP client also ignores proxy environment variables and does
not follow redirects, so a request cannot be sent elsewhere behind the config's back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..errors import UnsafeEndpoint

__all__ = ["check_endpoint", "endpoint_host", "is_loopback_host"]


def endpoint_host(url: str) -> str:
    """The host part of an http(s) URL, lower-cased, without brackets.

    Raises:
        ValueError: not an http(s) URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an http:// or https:// URL, got {url!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"base_url has no host: {url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"base_url has an invalid port: {url!r}") from exc
    return host


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and literal loopback addresses (no DNS look-up)."""
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost":
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def check_endpoint(url: str, allowed_hosts: Iterable[str] = (), where: str = "") -> str:
    """Refuse ``url`` unless its host is loopback or in ``allowed_hosts``; return the host.

    Raises:
        ValueError: the URL is not an http(s) URL with a host.
        UnsafeEndpoint: the host is neither loopback nor allowed.
    """
    host = endpoint_host(url)
    if is_loopback_host(host):
        return host
    allowed = {h.lower().strip("[]").rstrip(".") for h in allowed_hosts}
    if host.rstrip(".") in allowed:
        return host
    raise UnsafeEndpoint(url, host, where)
