"""A Cognito user pool with two app clients in the session emulator, and a second pool."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sdfleet.aws import AwsClients
from tests.support.aws_resources import unique


@dataclass(frozen=True)
class Pool:
    pool_id: str
    client_id: str
    other_client_id: str


def make_pool(aws: AwsClients) -> Pool:
    cognito = aws.cognito_idp()
    pool_id = cognito.create_user_pool(PoolName=unique("pool"))["UserPool"]["Id"]
    clients = [
        cognito.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=unique("client"),
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        for _ in range(2)
    ]
    return Pool(pool_id=pool_id, client_id=clients[0], other_client_id=clients[1])


@pytest.fixture()
def pool(aws: AwsClients) -> Pool:
    return make_pool(aws)


@pytest.fixture()
def other_pool(aws: AwsClients) -> Pool:
    return make_pool(aws)
