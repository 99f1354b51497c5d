"""Where a webhook may be sent: the SSRF rules, checked at submission and at every send.

A URL is refused unless it is ``https`` (``http`` only where local mode allows it) and every
address its host resolves to is public: no private, loopback, link-local (the instance metadata
service lives there), shared, multicast or otherwise reserved range. The check runs after DNS
resolution and returns the addresses it approved, so the sender connects to exactly those and a
name cannot be re-pointed between check and connect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

WEBHOOK_URL_MAX_CHARS: Final = 2048
#: AWS, GCP, Azure and Alibaba metadata endpoints (also inside link-local/private ranges;
#: named here so the refusal says what they are).
METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
METADATA_HOSTNAMES: Final = frozenset({"metadata.google.internal", "metadata"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``host, port -> addresses``; :func:`resolve_host` in production, a table in tests.
Resolver = Callable[[str, int], Sequence[str]]


class UrlRule(StrEnum):
    """The rule a refused URL broke (named in the 400 and in recorded attempts)."""

    MALFORMED = "malformed"
    SCHEME = "https_only"
    CREDENTIALS = "no_credentials"
    UNRESOLVABLE = "unresolvable"
    METADATA = "metadata_address"
    LOOPBACK = "loopback_address"
    PRIVATE = "private_address"
    LINK_LOCAL = "link_local_address"
    RESERVED = "reserved_address"
    NOT_ALLOWED_DOMAIN = "domain_not_allowed"


class WebhookUrlRefused(ValueError):
    def __init__(self, rule: UrlRule, message: str) -> None:
        self.rule = rule
        #: Without the field name (pydantic adds the location itself).
        self.reason = f"{message} (rule: {rule.value})"
        super().__init__(f"webhook_url: {self.reason}")


@dataclass(frozen=True)
class WebhookPolicy:
    """What a deployment allows. Production: https only, public addresses only."""

    allow_http: bool = False
    #: Only the local stack's explicit setting turns this on (a receiver on this machine).
    allow_loopback: bool = False
    #: When set, the host must be one of these domains or a subdomain of one.
    allowed_domains: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


def resolve_host(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def check_syntax(url: str) -> str:
    """The checks that need no DNS (the contract models run these; the scheme rule and the
    address rules need the deployment's policy and run at submission and at send)."""
    try:
        _split(url, WebhookPolicy(allow_http=True))
    except WebhookUrlRefused as exc:
        raise ValueError(exc.reason) from exc
    return url


WebhookUrl = Annotated[
    str,
    AfterValidator(check_syntax),
    Field(
        max_length=WEBHOOK_URL_MAX_CHARS,
        description="https URL the job's signed events are posted to (public addresses only).",
    ),
]


def _split(url: str, policy: WebhookPolicy) -> tuple[str, str, int, str]:
    if len(url) > WEBHOOK_URL_MAX_CHARS:
        raise WebhookUrlRefused(
            UrlRule.MALFORMED, f"must have at most {WEBHOOK_URL_MAX_CHARS} characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(UrlRule.MALFORMED, f"not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"} or not parts.hostname:
        raise WebhookUrlRefused(UrlRule.MALFORMED, "must be an absolute https:// URL with a host")
    if scheme == "http" and not policy.allow_http:
        raise WebhookUrlRefused(UrlRule.SCHEME, "must use https")
    if parts.username or parts.password:
        raise WebhookUrlRefused(UrlRule.CREDENTIALS, "must not carry user:password@")
    if any(ch in url for ch in " \r\n\t"):
        raise WebhookUrlRefused(UrlRule.MALFORMED, "must not contain whitespace")
    host = parts.hostname.lower().rstrip(".")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), target


def address_rule(address: IPAddress, policy: WebhookPolicy) -> UrlRule | None:
    """The rule an address breaks, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_rule(address.ipv4_mapped, policy)
    if address in METADATA_ADDRESSES:
        return UrlRule.METADATA
    if address.is_unspecified:  # 0.0.0.0 and :: reach this machine on Linux
        return UrlRule.RESERVED
    if address.is_loopback:
        return None if policy.allow_loopback else UrlRule.LOOPBACK
    if address.is_link_local:
        return UrlRule.LINK_LOCAL
    if address.is_reserved or address.is_multicast:
        return UrlRule.RESERVED
    if address.is_private:
        return UrlRule.PRIVATE
    if not address.is_global:  # shared address space (100.64/10) and the like
        return UrlRule.RESERVED
    return None


def _domain_allowed(host: str, domains: frozenset[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def check_webhook_url(
    url: str, policy: WebhookPolicy, resolve: Resolver = resolve_host
) -> CheckedUrl:
    """Every rule, DNS included; raises :class:`WebhookUrlRefused` naming the rule."""
    scheme, host, port, target = _split(url, policy)
    if host in METADATA_HOSTNAMES:
        raise WebhookUrlRefused(UrlRule.METADATA, f"{host} is a cloud metadata service")
    if policy.allowed_domains and not _domain_allowed(host, policy.allowed_domains):
        raise WebhookUrlRefused(
            UrlRule.NOT_ALLOWED_DOMAIN,
            f"{host} is not in the tenant's allowed domains "
            f"({', '.join(sorted(policy.allowed_domains))})",
        )
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(resolve(host, port))
        except (OSError, UnicodeError) as exc:
            raise WebhookUrlRefused(
                UrlRule.UNRESOLVABLE, f"{host} does not resolve ({exc})"
            ) from exc
        if not addresses:
            raise WebhookUrlRefused(UrlRule.UNRESOLVABLE, f"{host} does not resolve")
    for text in addresses:
        rule = address_rule(ipaddress.ip_address(text.split("%", 1)[0]), policy)
        if rule is not None:
            shown = host if literal is not None else f"{host} resolves to {text}, which"
            raise WebhookUrlRefused(
                rule,
                f"{shown} is a {rule.value.replace('_', ' ')}; only public addresses are allowed",
            )
    return CheckedUrl(
        url=url, scheme=scheme, host=host, port=port, target=target, addresses=tuple(addresses)
    )
