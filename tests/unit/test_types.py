"""Wire models (``arraylake.types``): validation rules, secret masking, aliases and datetimes."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from arraylake.types import (
    MAX_METADATA_BYTES,
    AzureCredentials,
    BucketModifyRequest,
    BucketResponse,
    GSCredentials,
    HmacAuth,
    NewBucket,
    Platform,
    Repo,
    RepoCreateBody,
    S3Credentials,
    validate_metadata,
)

SECRET = "very-secret-value-0123456789"


def new_bucket(**fields: Any) -> NewBucket:
    data: dict[str, Any] = {"nickname": "my-bucket", "name": "bkt", **fields}
    return NewBucket.model_validate(data)


def refused(**fields: Any) -> str:
    """The validation message for a NewBucket that must not validate."""
    with pytest.raises(ValidationError) as info:
        new_bucket(**fields)
    return str(info.value)


# -------------------------------------------------------------------------------------------- NewBucket


def test_s3_bucket_with_region() -> None:
    bucket = new_bucket(platform="s3", extra_config={"region_name": "us-east-1"})
    assert bucket.platform == Platform.S3
    assert bucket.auth_config.method == "anonymous"
    assert bucket.prefix == ""


@pytest.mark.parametrize("extra", [{}, {"region_name": ""}, {"use_ssl": True}])
def test_s3_without_region_name_is_refused(extra: dict) -> None:
    assert "s3 buckets need extra_config region_name" in refused(platform="s3", extra_config=extra)


def test_s3_with_endpoint_url_becomes_s3_compatible() -> None:
    bucket = new_bucket(platform="s3", extra_config={"endpoint_url": "http://127.0.0.1:9000"})
    assert bucket.platform == Platform.S3_COMPATIBLE
    assert bucket.extra_config == {"endpoint_url": "http://127.0.0.1:9000"}


@pytest.mark.parametrize("platform", ["s3-compatible", "minio"])
@pytest.mark.parametrize("extra", [{}, {"endpoint_url": ""}, {"region_name": "us-east-1"}])
def test_s3_compatible_and_minio_need_endpoint_url(platform: str, extra: dict) -> None:
    message = refused(platform=platform, extra_config=extra)
    assert (
        f"{platform} buckets need extra_config endpoint_url" in message or "endpoint_url must be" in message
    )


@pytest.mark.parametrize("platform", ["s3-compatible", "minio"])
def test_s3_compatible_and_minio_keep_their_platform(platform: str) -> None:
    bucket = new_bucket(platform=platform, extra_config={"endpoint_url": "https://s3.example.com"})
    assert bucket.platform == Platform(platform)


def test_unknown_extra_config_key_lists_the_known_keys() -> None:
    message = refused(platform="s3", extra_config={"region_name": "us-east-1", "regoin": "x"})
    assert "unknown extra_config key 'regoin'" in message
    assert (
        "known keys: endpoint_url, force_path_style, region_name, unsafe_use_conditional_create, "
        "unsafe_use_conditional_update, use_ssl"
    ) in message


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"use_ssl": "yes"}, "extra_config['use_ssl'] must be a bool"),
        ({"force_path_style": "false"}, "extra_config['force_path_style'] must be a bool"),
        ({"unsafe_use_conditional_update": "no"}, "extra_config['unsafe_use_conditional_update'] must be"),
        ({"region_name": True}, "extra_config['region_name'] must be a str"),
        ({"endpoint_url": False}, "extra_config['endpoint_url'] must be a str"),
        ({"region_name": ["us-east-1"]}, "extra_config.region_name"),
        ({"region_name": {"a": "b"}}, "extra_config.region_name"),
    ],
)
def test_extra_config_value_types(extra: dict, match: str) -> None:
    config = {"endpoint_url": "http://127.0.0.1:9000", **extra}
    assert match in refused(platform="s3-compatible", extra_config=config)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://s3.example.com",
        "s3.example.com",
        "localhost:9000",
        "http://",
        "https:///path-only",
        "file:///tmp/x",
        "javascript:alert(1)",
    ],
)
def test_bad_endpoint_url(url: str) -> None:
    assert "endpoint_url must be an http(s) URL with a host" in refused(
        platform="s3-compatible", extra_config={"endpoint_url": url}
    )


def test_extra_config_must_be_a_dict() -> None:
    assert "extra_config" in refused(platform="s3", extra_config=["region_name"])


def test_local_bucket_is_anonymous_without_extra_config() -> None:
    bucket = new_bucket(platform="local", name="local")
    assert bucket.platform == Platform.LOCAL and bucket.extra_config == {}
    message = refused(
        platform="local", auth_config={"method": "hmac", "access_key_id": "AK", "secret_access_key": SECRET}
    )
    assert "local buckets are directories of the service: their auth method is anonymous" in message
    assert SECRET not in message
    assert "local buckets take no extra_config" in refused(
        platform="local", extra_config={"region_name": "us-east-1"}
    )


def test_gs_with_hmac_points_to_s3_compatible() -> None:
    message = refused(
        platform="gs", auth_config={"method": "hmac", "access_key_id": "AK", "secret_access_key": SECRET}
    )
    assert "gs buckets don't take HMAC keys" in message
    assert "s3-compatible with endpoint_url https://storage.googleapis.com" in message
    assert SECRET not in message


def test_gs_anonymous_is_fine() -> None:
    assert new_bucket(platform="gs").platform == Platform.GS


def test_azure_anonymous_needs_storage_account() -> None:
    assert "anonymous azure buckets need auth_config storage_account" in refused(platform="azure")
    assert "storage_account" in refused(
        platform="azure", auth_config={"method": "anonymous", "storage_account": ""}
    )
    bucket = new_bucket(platform="azure", auth_config={"method": "anonymous", "storage_account": "acct"})
    assert bucket.auth_config.storage_account == "acct"


@pytest.mark.parametrize(
    ("platform", "extra", "auth", "allowed"),
    [
        (
            "gs",
            {},
            {
                "method": "aws_customer_managed_role",
                "external_customer_id": "123456789012",
                "external_role_name": "r",
            },
            "minio, s3, s3-compatible",
        ),
        (
            "azure",
            {},
            {
                "method": "customer_managed_role",
                "external_customer_id": "123456789012",
                "external_role_name": "r",
            },
            "minio, s3, s3-compatible",
        ),
        (
            "s3",
            {"region_name": "us-east-1"},
            {"method": "gcp_customer_managed_role", "target_service_account": "sa@x"},
            "gs",
        ),
        (
            "s3",
            {"region_name": "us-east-1"},
            {
                "method": "r2_customer_managed_role",
                "external_account_id": "a",
                "parent_access_key_id": "p",
            },
            "s3-compatible",
        ),
        (
            "gs",
            {},
            {"method": "azure_credential_delegation", "tenant_id": "t", "storage_account": "acct"},
            "azure",
        ),
    ],
)
def test_role_methods_on_the_wrong_platform(platform: str, extra: dict, auth: dict, allowed: str) -> None:
    message = refused(platform=platform, extra_config=extra, auth_config=auth)
    assert f"auth method {auth['method']} only works with platform {allowed}" in message


def test_role_methods_on_the_right_platform() -> None:
    bucket = new_bucket(
        platform="gs", auth_config={"method": "gcp_customer_managed_role", "target_service_account": "sa@x"}
    )
    assert bucket.auth_config.method == "gcp_customer_managed_role"
    bucket = new_bucket(
        platform="azure",
        auth_config={"method": "azure_credential_delegation", "tenant_id": "t", "storage_account": "acct"},
    )
    assert bucket.auth_config.method == "azure_credential_delegation"


def test_unknown_auth_method_and_platform_are_refused() -> None:
    assert "auth_config" in refused(platform="gs", auth_config={"method": "password"})
    assert "platform" in refused(platform="ftp")


def test_new_bucket_validates_names_and_prefix() -> None:
    assert "invalid bucket nickname" in refused(platform="local", nickname="a b")
    assert "bucket name" in refused(platform="local", name="../etc")
    assert "invalid bucket prefix" in refused(platform="local", prefix="../other-org")
    assert "no leading or trailing '/'" in refused(platform="local", prefix="/abs")
    bucket = new_bucket(platform="local", nickname="  spaced  ", prefix="  a/b  ")
    assert bucket.nickname == "spaced" and bucket.prefix == "a/b"


def test_bucket_modify_request_validates_only_given_fields() -> None:
    assert BucketModifyRequest().model_dump(exclude_none=True) == {}
    assert BucketModifyRequest(nickname="  new-name ").nickname == "new-name"
    for change in ({"prefix": "../x"}, {"name": "a"}, {"nickname": "ab"}, {"extra_config": {"nope": 1}}):
        with pytest.raises(ValidationError):
            BucketModifyRequest.model_validate(change)


# ------------------------------------------------------------------------------------------ secrets


def test_hmac_secret_is_masked_in_repr_and_str_but_sent_in_json() -> None:
    bucket = new_bucket(
        platform="s3",
        extra_config={"region_name": "us-east-1"},
        auth_config={"method": "hmac", "access_key_id": "AKIDEXAMPLE", "secret_access_key": SECRET},
    )
    assert isinstance(bucket.auth_config, HmacAuth)
    for text in (repr(bucket), str(bucket), repr(bucket.auth_config), str(bucket.auth_config)):
        assert SECRET not in text
        assert "**********" in text
    dumped = json.loads(bucket.model_dump_json())
    assert dumped["auth_config"] == {
        "method": "hmac",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": SECRET,
        "writers_only": False,
    }
    assert bucket.model_dump(mode="json")["auth_config"]["secret_access_key"] == SECRET
    # In Python mode the secret stays wrapped, so it cannot leak through a casual print of a dict.
    assert SECRET not in str(bucket.model_dump())


def test_hmac_secret_must_not_be_empty() -> None:
    assert "secret_access_key" in refused(
        platform="s3",
        extra_config={"region_name": "us-east-1"},
        auth_config={"method": "hmac", "access_key_id": "AK", "secret_access_key": ""},
    )


def test_bucket_response_round_trips_secrets_through_json() -> None:
    bucket = BucketResponse(
        id="0b7d6d1e-7d1c-4d84-9a55-5e0c5ee8e6f1",
        nickname="abc",
        platform="s3",
        name="bkt",
        is_default=True,
        auth_config={"method": "hmac", "access_key_id": "AK", "secret_access_key": SECRET},
    )
    assert SECRET not in repr(bucket)
    again = BucketResponse.model_validate_json(bucket.model_dump_json())
    assert again.auth_config.secret_access_key.get_secret_value() == SECRET
    assert again.auth_method == "hmac"


@pytest.mark.parametrize(
    ("model", "fields", "secret_field"),
    [
        (
            S3Credentials,
            {"aws_access_key_id": "AK", "aws_secret_access_key": SECRET},
            "aws_secret_access_key",
        ),
        (
            S3Credentials,
            {"aws_access_key_id": "AK", "aws_secret_access_key": "x", "aws_session_token": SECRET},
            "aws_session_token",
        ),
        (GSCredentials, {"access_token": SECRET, "principal": "me@example.com"}, "access_token"),
        (AzureCredentials, {"sas_token": SECRET, "storage_account": "acct"}, "sas_token"),
    ],
)
def test_credentials_are_masked_but_serialized(model: type, fields: dict, secret_field: str) -> None:
    creds = model.model_validate(fields)
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    assert json.loads(creds.model_dump_json())[secret_field] == SECRET


# --------------------------------------------------------------------------------------------- Repo

REPO_ID = "65f1c0de0123456789abcdef"


def repo_json(**fields: Any) -> dict[str, Any]:
    return {"_id": REPO_ID, "org": "my-org", "name": "my-repo", "prefix": f"{REPO_ID}-my-repo", **fields}


def test_repo_is_parsed_from_the_id_alias_and_serialized_by_alias() -> None:
    repo = Repo.model_validate(repo_json())
    assert repo.id == REPO_ID
    assert repo.full_name == "my-org/my-repo"
    assert repo.kind == "icechunk" and repo.visibility == "PRIVATE" and repo.status.mode == "online"
    wire = json.loads(repo.model_dump_json(by_alias=True))
    assert wire["_id"] == REPO_ID and "id" not in wire
    assert Repo.model_validate(wire) == repo


def test_repo_can_be_populated_by_field_name() -> None:
    repo = Repo(id=REPO_ID, org="o1", name="r1", prefix="p")
    assert repo.id == REPO_ID


@pytest.mark.parametrize("bad_id", ["xyz", "abc", "", "ABCDEF", "12 34"])
def test_repo_id_must_be_hex_bytes(bad_id: str) -> None:
    with pytest.raises(ValidationError, match="_id"):
        Repo.model_validate(repo_json(_id=bad_id))


def test_repo_ignores_unknown_keys() -> None:
    repo = Repo.model_validate(repo_json(something_new=1))
    assert not hasattr(repo, "something_new")


def test_naive_datetimes_become_utc() -> None:
    repo = Repo.model_validate(repo_json(created=datetime(2024, 5, 1, 12, 30), updated="2024-05-01T12:30:00"))
    assert repo.created == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert repo.created.tzinfo is UTC
    assert repo.updated.tzinfo is UTC and repo.updated.hour == 12
    assert json.loads(repo.model_dump_json())["created"] == "2024-05-01T12:30:00Z"


def test_aware_datetimes_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    repo = Repo.model_validate(
        repo_json(created=datetime(2024, 5, 1, 12, 30, tzinfo=plus_two), updated="2024-05-01T12:30:00-05:00")
    )
    assert repo.created.tzinfo is UTC and repo.created.hour == 10
    assert repo.updated.tzinfo is UTC and repo.updated.hour == 17
    assert repo.created == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)


def test_default_datetimes_are_aware() -> None:
    repo = Repo.model_validate(repo_json())
    assert repo.created.tzinfo is not None and repo.created.utcoffset() == timedelta(0)


# ------------------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {"project": "era5", "year": 2024, "ratio": 0.5, "public": True, "missing": None},
        {"tags": ["a", "b", 1, 2.5, False, None]},
        {"k" * 128: "v"},
        {},
    ],
)
def test_valid_metadata(metadata: dict) -> None:
    assert validate_metadata(metadata) == metadata
    assert RepoCreateBody(name="repo", metadata=metadata).metadata == metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {"x": math.nan},
        {"x": math.inf},
        {"x": -math.inf},
        {"x": [1.0, math.nan]},
    ],
)
def test_nan_and_infinity_are_refused(metadata: dict) -> None:
    with pytest.raises(ValueError, match="NaN and infinity are not JSON"):
        validate_metadata(metadata)
    with pytest.raises(ValidationError, match="NaN and infinity"):
        RepoCreateBody(name="repo", metadata=metadata)


def test_metadata_size_limit_is_4_kib_of_json() -> None:
    overhead = len(json.dumps({"k": ""}))
    at_limit = {"k": "x" * (MAX_METADATA_BYTES - overhead)}
    assert len(json.dumps(at_limit)) == MAX_METADATA_BYTES
    assert validate_metadata(at_limit) == at_limit
    over = {"k": "x" * (MAX_METADATA_BYTES - overhead + 1)}
    with pytest.raises(ValueError, match="larger than 4096 bytes"):
        validate_metadata(over)
    with pytest.raises(ValidationError, match="larger than 4096 bytes"):
        RepoCreateBody(name="repo", metadata={f"k{i}": "v" * 100 for i in range(50)})


@pytest.mark.parametrize("key", ["", "k" * 129])
def test_metadata_keys_have_1_to_128_characters(key: str) -> None:
    with pytest.raises(ValueError, match="metadata keys must have 1 to 128 characters"):
        validate_metadata({key: 1})


@pytest.mark.parametrize("metadata", [{"nested": {"a": 1}}, {"deep": [[1, 2]]}, {"obj": [{"a": 1}]}])
def test_nested_metadata_is_refused(metadata: dict) -> None:
    with pytest.raises(ValidationError):
        RepoCreateBody(name="repo", metadata=metadata)


def test_none_metadata_is_fine() -> None:
    assert validate_metadata(None) is None


# ------------------------------------------------------------------------------------- RepoCreateBody


def test_repo_create_body_defaults() -> None:
    body = RepoCreateBody(name="repo")
    assert body.kind == "icechunk" and body.create_mode == "register"
    assert body.prefix is None and body.bucket_nickname is None
    assert body.model_dump(mode="json", exclude_none=True) == {
        "name": "repo",
        "kind": "icechunk",
        "create_mode": "register",
    }


def test_repo_create_body_refuses_an_empty_prefix() -> None:
    with pytest.raises(ValidationError, match="repo prefix must not be empty"):
        RepoCreateBody(name="repo", prefix="")


@pytest.mark.parametrize("prefix", ["..", "../x", "/abs", "a/", "a//b", "a\\b", "a b"])
def test_repo_create_body_refuses_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValidationError, match="repo prefix"):
        RepoCreateBody(name="repo", prefix=prefix)


def test_repo_create_body_accepts_nested_prefixes() -> None:
    assert RepoCreateBody(name="repo", prefix="team/project/repo").prefix == "team/project/repo"


@pytest.mark.parametrize("name", ["buckets", "Repos", "settings"])
def test_repo_create_body_refuses_reserved_names(name: str) -> None:
    with pytest.raises(ValidationError, match="is reserved"):
        RepoCreateBody(name=name)


@pytest.mark.parametrize("name", ["a", "-x", "bad name", "naïve"])
def test_repo_create_body_refuses_invalid_names(name: str) -> None:
    with pytest.raises(ValidationError, match="invalid repo name"):
        RepoCreateBody(name=name)


def test_repo_create_body_other_fields() -> None:
    assert RepoCreateBody(name="repo", bucket_nickname="  nick  ").bucket_nickname == "nick"
    with pytest.raises(ValidationError, match="bucket nickname"):
        RepoCreateBody(name="repo", bucket_nickname="ab")
    with pytest.raises(ValidationError, match="description"):
        RepoCreateBody(name="repo", description="d" * 256)
    assert RepoCreateBody(name="repo", description="d" * 255).description == "d" * 255
    with pytest.raises(ValidationError, match="kind"):
        RepoCreateBody(name="repo", kind="v2")
    with pytest.raises(ValidationError, match="create_mode"):
        RepoCreateBody(name="repo", create_mode="clone")
