"""SSRF guard: the hosts and addresses a fetch must never reach (metadata, private, tunnelled IPv4)."""

from __future__ import annotations

import ipaddress

METADATA_HOSTS = {
    "metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data",
    "instance-data.ec2.internal", "metadata.tencentyun.com",
}  # fmt: skip
# Cloud instance-metadata endpoints: refused even when private networks are allowed,
# because reaching one from a feed URL hands out the machine's credentials.
METADATA_ADDRESSES = {
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "168.63.129.16")
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address tunnels to (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    out = []
    if addr.ipv4_mapped:
        out.append(addr.ipv4_mapped)
    if addr.sixtofour:
        out.append(addr.sixtofour)
    if addr.teredo:
        out.extend(addr.teredo)
    if addr in _NAT64:
        out.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return out


def check_address(ip: str, allow_private: bool) -> str | None:
    """Reason an address must not be fetched, or None if it may be."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"{ip!r} is not an IP address"
    for inner in _embedded_ipv4(addr):
        why = check_address(str(inner), allow_private)
        if why:
            return f"{addr} embeds {why}"
    if addr in METADATA_ADDRESSES:
        return f"{addr} is a cloud metadata address"
    if addr.is_multicast:
        return f"{addr} is a multicast address"
    if addr.is_unspecified:
        return f"{addr} is unspecified"
    if addr.is_link_local:
        # 169.254/16 and fe80::/10 hold metadata services on most clouds; never needed for news.
        return f"{addr} is a link-local address"
    if allow_private:
        return None
    for attr, what in (("is_loopback", "loopback"), ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(addr, attr):
            return f"{addr} is a {what} address"
    if not addr.is_global:
        return f"{addr} is not a public address"
    return None
