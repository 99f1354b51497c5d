"""The SSRF rules: refused addresses, names resolving to them, and the syntax rules."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from sdfleet.messages import JobMessage
from sdfleet.requests import JobRequest
from sdfleet.webhook_urls import (
    UrlRule,
    WebhookPolicy,
    WebhookUrlRefused,
    check_webhook_url,
)

PROD = WebhookPolicy()
DNS = {
    "hooks.example.com": ["93.184.216.34"],
    "intranet.example.com": ["10.1.2.3"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.9"],
    "rebind.example.com": ["::ffff:127.0.0.1"],
}


def table_resolver(host: str, port: int) -> Sequence[str]:
    """DNS is the edge here: a fixed table stands for a resolver."""
    if host not in DNS:
        raise OSError("name not known")
    return DNS[host]


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://127.0.0.1/hook", UrlRule.LOOPBACK),
        ("https://[::1]/hook", UrlRule.LOOPBACK),
        ("https://169.254.169.254/latest/meta-data/", UrlRule.METADATA),
        ("https://169.254.1.1/", UrlRule.LINK_LOCAL),
        ("https://10.0.0.1/hook", UrlRule.PRIVATE),
        ("https://10.255.3.4:8443/hook", UrlRule.PRIVATE),
        ("https://192.168.0.1/", UrlRule.PRIVATE),
        ("https://100.64.0.1/", UrlRule.RESERVED),
        ("https://0.0.0.0/", UrlRule.RESERVED),
        ("https://240.0.0.1/", UrlRule.RESERVED),
        ("https://intranet.example.com/hook", UrlRule.PRIVATE),
        ("https://mixed.example.com/hook", UrlRule.PRIVATE),
        ("https://rebind.example.com/hook", UrlRule.LOOPBACK),
        ("https://metadata.google.internal/", UrlRule.METADATA),
        ("https://nowhere.invalid/", UrlRule.UNRESOLVABLE),
        ("http://hooks.example.com/hook", UrlRule.SCHEME),
        ("https://user:pw@hooks.example.com/", UrlRule.CREDENTIALS),
        ("ftp://hooks.example.com/", UrlRule.MALFORMED),
    ],
)
def test_refused(url: str, rule: UrlRule) -> None:
    with pytest.raises(WebhookUrlRefused) as caught:
        check_webhook_url(url, PROD, table_resolver)
    assert caught.value.rule is rule
    assert str(caught.value).startswith("webhook_url: ")
    assert rule.value in str(caught.value)


def test_public_https_url_is_accepted_with_its_addresses() -> None:
    checked = check_webhook_url("https://hooks.example.com:8443/in?x=1", PROD, table_resolver)
    assert (checked.host, checked.port, checked.target) == ("hooks.example.com", 8443, "/in?x=1")
    assert checked.addresses == ("93.184.216.34",)


def test_real_resolver_refuses_localhost() -> None:
    with pytest.raises(WebhookUrlRefused) as caught:
        check_webhook_url("https://localhost/hook", PROD)
    assert caught.value.rule is UrlRule.LOOPBACK


def test_local_policy_allows_loopback_http_only_when_asked() -> None:
    local = WebhookPolicy(allow_http=True, allow_loopback=True)
    assert check_webhook_url("http://127.0.0.1:9000/h", local).addresses == ("127.0.0.1",)
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url("http://10.0.0.1:9000/h", local)
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url("http://169.254.169.254/", local)


def test_allowed_domains() -> None:
    policy = WebhookPolicy(allowed_domains=frozenset({"example.com"}))
    check_webhook_url("https://hooks.example.com/", policy, table_resolver)
    with pytest.raises(WebhookUrlRefused) as caught:
        check_webhook_url("https://evil-example.com/", policy, table_resolver)
    assert caught.value.rule is UrlRule.NOT_ALLOWED_DOMAIN


def test_models_carry_webhook_url_and_name_it_on_bad_syntax() -> None:
    request = JobRequest.model_validate({"prompt": "x", "webhook_url": "https://h.example/x"})
    assert request.webhook_url == "https://h.example/x"
    assert "webhook_url" not in request.params().model_dump()
    message = JobMessage.model_validate(
        {"version": 1, "kind": "txt2img", "params": {"prompt": "x"}, "webhook_url": "https://h/x"}
    )
    assert JobMessage.from_body(message.to_body()).webhook_url == "https://h/x"
    with pytest.raises(ValidationError) as caught:
        JobRequest.model_validate({"prompt": "x", "webhook_url": "gopher://h/x"})
    assert caught.value.errors()[0]["loc"] == ("webhook_url",)
