"""Settings precedence: explicit argument > environment variable > SSM parameter > default."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from sdfleet import env
from sdfleet.aws import AwsClients
from sdfleet.settings import IngestSettings, ScalerSettings, WorkerSettings

pytestmark = pytest.mark.emulator


@pytest.fixture()
def ssm_path(aws: AwsClients, monkeypatch: pytest.MonkeyPatch) -> str:
    path = f"/sdfleet/test-{uuid.uuid4().hex[:8]}/"
    ssm = aws.ssm()
    key_id = aws.client("kms").create_key(Description="sdfleet test")["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=f"{path}max_capacity", Value="7", Type="String")
    ssm.put_parameter(Name=f"{path}scaler/target_wait_seconds", Value="45", Type="String")
    ssm.put_parameter(Name=f"{path}SDFLEET_SCALER_MAX_STEP", Value="3", Type="String")
    ssm.put_parameter(Name=f"{path}bucket", Value="from-ssm", Type="SecureString", KeyId=key_id)
    ssm.put_parameter(Name=f"{path}unrelated_thing", Value="ignored", Type="String")
    monkeypatch.setenv(env.AWS_ENDPOINT_URL, str(aws.endpoint_url))
    monkeypatch.setenv(env.SSM_PATH, path)
    for name in (env.SCALER_MAX_CAPACITY, env.BUCKET, env.SCALER_MAX_STEP):
        monkeypatch.delenv(name, raising=False)
    return path


def test_ssm_values_are_read_and_decrypted(ssm_path: str) -> None:
    settings = ScalerSettings()
    assert settings.max_capacity == 7
    assert settings.target_wait_seconds == 45.0
    assert settings.max_step == 3
    assert settings.bucket == "from-ssm"
    assert settings.min_capacity == 0  # default


def test_env_beats_ssm_and_argument_beats_env(
    ssm_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env.SCALER_MAX_CAPACITY, "9")
    assert ScalerSettings().max_capacity == 9
    assert ScalerSettings(max_capacity=11).max_capacity == 11


def test_invalid_ssm_value_names_the_field(ssm_path: str, aws: AwsClients) -> None:
    aws.ssm().put_parameter(Name=f"{ssm_path}min_capacity", Value="12", Type="String")
    with pytest.raises(ValidationError, match="min_capacity"):
        ScalerSettings()


def test_validation_errors_name_field_and_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env.SSM_PATH, raising=False)
    with pytest.raises(
        ValidationError, match=r"max_active_jobs_per_user[\s\S]*less than or equal to 10000"
    ):
        IngestSettings(max_active_jobs_per_user=10_001)
    with pytest.raises(ValidationError, match="upload_url_expires_seconds"):
        IngestSettings(upload_url_expires_seconds=301)
    with pytest.raises(ValidationError, match="heartbeat_seconds"):
        WorkerSettings(heartbeat_seconds=200, visibility_timeout_seconds=120)
    with pytest.raises(ValidationError, match="sender_tenants"):
        WorkerSettings(sender_tenants="{not json")


def test_sender_tenants_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env.SSM_PATH, raising=False)
    monkeypatch.setenv(env.SENDER_TENANTS, '{"AIDAEXAMPLE": "acme"}')
    assert WorkerSettings().sender_tenants == {"AIDAEXAMPLE": "acme"}


def test_tenant_webhook_urls_from_ssm_and_their_errors(
    ssm_path: str, aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default webhook URL per tenant comes as JSON (an SSM SecureString from Terraform);
    a malformed map or URL is refused at start-up, naming the setting."""
    monkeypatch.delenv(env.TENANT_WEBHOOK_URLS, raising=False)
    key_id = aws.client("kms").create_key(Description="hooks")["KeyMetadata"]["KeyId"]
    aws.ssm().put_parameter(
        Name=f"{ssm_path}tenant_webhook_urls",
        Value='{"acme": "https://hooks.example.com/sdfleet"}',
        Type="SecureString",
        KeyId=key_id,
    )
    assert WorkerSettings().tenant_webhook_urls == {"acme": "https://hooks.example.com/sdfleet"}
    with pytest.raises(ValidationError, match="tenant_webhook_urls must be a JSON object"):
        WorkerSettings(tenant_webhook_urls="{not json")
    with pytest.raises(ValidationError, match=r"tenant_webhook_urls\.acme[\s\S]*user:pass"):
        WorkerSettings(tenant_webhook_urls={"acme": "https://user:pass@hooks.example.com/"})


def test_a_component_decrypts_only_its_own_secrets(ssm_path: str, aws: AwsClients) -> None:
    """Finding 5: ingest and the scaler never decrypt ``sender_tenants`` (their roles may not)."""
    from sdfleet.settings import SSMParameterSource

    key_id = aws.client("kms").create_key(Description="tenants")["KeyMetadata"]["KeyId"]
    secret = f"{ssm_path}sender_tenants"
    aws.ssm().put_parameter(
        Name=secret, Value='{"AIDA1": "acme"}', Type="SecureString", KeyId=key_id
    )
    for settings_cls in (IngestSettings, ScalerSettings):
        source = SSMParameterSource(settings_cls, {})
        values = source()
        assert "sender_tenants" not in values and secret not in source.decrypted
        assert values["bucket"] == "from-ssm"  # its own SecureString still is
    worker = SSMParameterSource(WorkerSettings, {})
    assert worker()["sender_tenants"] == '{"AIDA1": "acme"}' and secret in worker.decrypted
