"""Settings of job events and webhooks: the SSRF policy (ingest and notifier) and delivery."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from sdfleet import env
from sdfleet.settings import FleetSettings
from sdfleet.webhook_urls import WebhookPolicy

#: Key of :attr:`WebhookPolicySettings.webhook_allowed_domains` that applies to every owner.
ALL_OWNERS = "*"


class WebhookPolicySettings(FleetSettings):
    webhook_allow_http: bool = Field(
        default=False,
        validation_alias=AliasChoices("webhook_allow_http", env.WEBHOOK_ALLOW_HTTP),
        description="accept http:// webhook URLs (local stack only; https otherwise)",
    )
    webhook_allow_loopback: bool = Field(
        default=False,
        validation_alias=AliasChoices("webhook_allow_loopback", env.WEBHOOK_ALLOW_LOOPBACK),
        description="accept webhook receivers on this machine's loopback (local stack only)",
    )
    webhook_allowed_domains: dict[str, list[str]] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("webhook_allowed_domains", env.WEBHOOK_ALLOWED_DOMAINS),
        description='JSON {owner: [domains]} ("*" for everyone): webhook hosts must be one of '
        "these or a subdomain; unset: any public host",
    )
    webhook_secrets_path: str = Field(
        default="/sdfleet/webhook-secrets/",
        validation_alias=AliasChoices("webhook_secrets_path", env.WEBHOOK_SECRETS_PATH),
        description="SSM path under which each owner's webhook signing secret is kept",
    )

    def policy_for(self, owner: str) -> WebhookPolicy:
        domains = self.webhook_allowed_domains.get(owner) or self.webhook_allowed_domains.get(
            ALL_OWNERS, []
        )
        return WebhookPolicy(
            allow_http=self.webhook_allow_http,
            allow_loopback=self.webhook_allow_loopback,
            allowed_domains=frozenset(domain.lower().strip(".") for domain in domains),
        )


class NotifierSettings(WebhookPolicySettings):
    event_bus_name: str = Field(
        default="sdfleet-jobs",
        validation_alias=AliasChoices("event_bus_name", env.EVENT_BUS_NAME),
        description="EventBridge bus the job events are published on",
    )
    webhook_retry_queue_url: str = Field(
        default="",
        validation_alias=AliasChoices("webhook_retry_queue_url", env.WEBHOOK_RETRY_QUEUE_URL),
        description="SQS queue of webhook deliveries waiting for their next attempt",
    )
    webhook_dlq_url: str = Field(
        default="",
        validation_alias=AliasChoices("webhook_dlq_url", env.WEBHOOK_DLQ_URL),
        description="SQS queue of webhook deliveries given up on (with the reason)",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=30,
        validation_alias=AliasChoices("webhook_timeout_seconds", env.WEBHOOK_TIMEOUT_SECONDS),
        description="seconds a receiver has to answer one webhook attempt",
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        validation_alias=AliasChoices("webhook_retry_base_seconds", env.WEBHOOK_RETRY_BASE_SECONDS),
        description="first webhook retry delay; each later one doubles (with jitter)",
    )
    webhook_delivery_window_seconds: int = Field(
        default=86_400,
        ge=60,
        le=86_400,
        validation_alias=AliasChoices(
            "webhook_delivery_window_seconds", env.WEBHOOK_DELIVERY_WINDOW_SECONDS
        ),
        description="how long a webhook is retried before it is dead-lettered",
    )
