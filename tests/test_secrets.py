"""Settings from files and from AWS Secrets Manager (moto's server stands in for AWS)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import boto3
import pytest

from taskflow.config import Settings, SettingsError
from tests.support.moto import moto_server

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, str]]:
    with moto_server() as url:
        yield {**AWS, "AWS_ENDPOINT_URL_SECRETS_MANAGER": url}


def test_settings_come_from_the_secret_without_overriding_the_environment(
        aws: dict[str, str]) -> None:
    jwt = secrets.token_urlsafe(40)
    client = boto3.client("secretsmanager", endpoint_url=aws["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
                          region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    name = f"taskflow/{secrets.token_hex(4)}"
    client.create_secret(Name=name, SecretString=json.dumps({
        "JWT_SECRET": jwt, "TASKFLOW_RATE_LIMIT_API": "5/minute", "TASKFLOW_LOG_LEVEL": "DEBUG"}))
    settings = Settings.from_environ({**aws, "TASKFLOW_AWS_SECRET_ID": name,
                                      "TASKFLOW_LOG_LEVEL": "WARNING"})
    assert settings.jwt_secret == jwt
    assert settings.rate_limits.api_per_user == "5/minute"
    assert settings.log_level == "WARNING"  # the environment wins over the secret


def test_a_missing_or_malformed_secret_is_a_bad_setting(aws: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="TASKFLOW_AWS_SECRET_ID"):
        Settings.from_environ({**aws, "TASKFLOW_AWS_SECRET_ID": "no/such/secret"})
    client = boto3.client("secretsmanager", endpoint_url=aws["AWS_ENDPOINT_URL_SECRETS_MANAGER"],
                          region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    name = f"taskflow/{secrets.token_hex(4)}"
    client.create_secret(Name=name, SecretString="not json")
    with pytest.raises(SettingsError, match="TASKFLOW_AWS_SECRET_ID"):
        Settings.from_environ({**aws, "TASKFLOW_AWS_SECRET_ID": name})
