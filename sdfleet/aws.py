"""AWS client factory honoring an endpoint override (the local emulator) and a region."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

#: Standard retry mode with a few attempts: throttling is retried by botocore itself.
DEFAULT_MAX_ATTEMPTS = 5


class AwsClients:
    """Creates boto3 clients, all pointed at the same endpoint and region.

    Clients are cached per service: boto3 clients are thread-safe, sessions are not.
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.endpoint_url = endpoint_url or None
        self.region = region or "us-east-1"
        self._config = Config(
            region_name=self.region,
            retries={"mode": "standard", "max_attempts": max_attempts},
            signature_version="s3v4",
            s3={"addressing_style": "path"} if self.endpoint_url else {},
        )
        self._clients: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> AwsClients:
        return cls(endpoint_url=settings.aws_endpoint_url, region=settings.aws_region)

    @cached_property
    def _session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.endpoint_url,
                config=self._config,
            )
        return self._clients[service]

    def s3(self) -> S3Client:
        return self.client("s3")  # type: ignore[no-any-return]

    def sqs(self) -> SQSClient:
        return self.client("sqs")  # type: ignore[no-any-return]

    def dynamodb(self) -> DynamoDBClient:
        return self.client("dynamodb")  # type: ignore[no-any-return]

    def ssm(self) -> SSMClient:
        return self.client("ssm")  # type: ignore[no-any-return]

    def autoscaling(self) -> AutoScalingClient:
        return self.client("autoscaling")  # type: ignore[no-any-return]

    def cloudwatch(self) -> CloudWatchClient:
        return self.client("cloudwatch")  # type: ignore[no-any-return]

    def cognito_idp(self) -> CognitoIdentityProviderClient:
        return self.client("cognito-idp")  # type: ignore[no-any-return]

    def events(self) -> EventBridgeClient:
        return self.client("events")  # type: ignore[no-any-return]

    def dynamodbstreams(self) -> DynamoDBStreamsClient:
        return self.client("dynamodbstreams")  # type: ignore[no-any-return]
