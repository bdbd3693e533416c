"""From bucket configs to Icechunk storage (``arraylake.storage``) and bucket URIs (``parse_bucket_uri``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import icechunk
import pytest

from arraylake.client import parse_bucket_uri
from arraylake.storage import (
    apply_bucket_flags,
    can_write,
    container_credentials,
    container_store_config,
    container_url_prefix,
    credentials_from_bucket,
    icechunk_storage,
    storage_arguments,
)
from arraylake.types import (
    AzureCredentials,
    BucketResponse,
    GSCredentials,
    Platform,
    S3Credentials,
)

LOCAL_PATH = "/srv/arraylake/storage/my-org/local"
AK = "AKIDEXAMPLE"
SK = "secret-key-0123456789"


def bucket(platform: str, *, name: str = "bkt", prefix: str = "", **fields: Any) -> BucketResponse:
    return BucketResponse.model_validate(
        {
            "id": str(uuid.uuid4()),
            "nickname": "nick",
            "platform": platform,
            "name": name,
            "prefix": prefix,
            "is_default": False,
            **fields,
        }
    )


def local_bucket(prefix: str = "", path: str = LOCAL_PATH) -> BucketResponse:
    return bucket("local", name="local", prefix=prefix, extra_config={"local_path": path})


HMAC = {"method": "hmac", "access_key_id": AK, "secret_access_key": SK}
S3_CREDS = S3Credentials(aws_access_key_id=AK, aws_secret_access_key=SK)
GS_CREDS = GSCredentials(access_token="gcs-bearer-token", principal="me@example.com")
AZ_CREDS = AzureCredentials(sas_token="sv=2024&sig=abc", storage_account="sas-account")


# ---------------------------------------------------------------------------------------------- local


@pytest.mark.parametrize(
    ("prefix", "path"),
    [("abc-repo", f"{LOCAL_PATH}/abc-repo"), ("team/abc-repo", f"{LOCAL_PATH}/team/abc-repo")],
)
def test_local_storage_path_is_local_path_joined_with_prefix(prefix: str, path: str) -> None:
    args = storage_arguments(local_bucket(), prefix)
    assert args.builder == "local_filesystem_storage"
    assert args.kwargs == {"path": path}
    assert repr(args.build()) == f"<icechunk.Storage>\ntype: local filesystem\npath: {path}\n"


def test_local_storage_needs_the_local_path() -> None:
    with pytest.raises(ValueError, match="carries no local_path"):
        storage_arguments(bucket("local", name="local"), "repo")
    with pytest.raises(ValueError, match="carries no local_path"):
        storage_arguments(local_bucket(path=""), "repo")


def test_local_buckets_are_writable_without_credentials() -> None:
    assert can_write(local_bucket())
    assert credentials_from_bucket(local_bucket()) is None


# ------------------------------------------------------------------------------------------------- s3


def test_s3_with_hmac_credentials() -> None:
    b = bucket("s3", extra_config={"region_name": "eu-west-1"}, auth_config=HMAC)
    creds = credentials_from_bucket(b)
    assert isinstance(creds, S3Credentials)
    assert creds.aws_access_key_id == AK and creds.aws_secret_access_key.get_secret_value() == SK
    args = storage_arguments(b, "p/q", creds)
    assert args.builder == "s3_storage"
    assert args.kwargs == {
        "bucket": "bkt",
        "prefix": "p/q",
        "region": "eu-west-1",
        "endpoint_url": None,
        "allow_http": False,
        "force_path_style": False,
        "access_key_id": AK,
        "secret_access_key": SK,
        "session_token": None,
        "expires_after": None,
    }
    built = repr(icechunk_storage(b, "p/q", creds))
    assert built.startswith(
        "<icechunk.Storage>\ntype: S3 (native)\nbucket: bkt\nprefix: p/q\nregion: eu-west-1\n"
    )
    assert SK not in built


def test_s3_session_token_and_expiry_are_passed_on() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    creds = S3Credentials(
        aws_access_key_id=AK, aws_secret_access_key=SK, aws_session_token="sess", expiration=expires
    )
    kwargs = storage_arguments(bucket("s3", extra_config={"region_name": "us-east-1"}), "p", creds).kwargs
    assert kwargs["session_token"] == "sess" and kwargs["expires_after"] == expires


@pytest.mark.parametrize("platform", ["s3-compatible", "minio"])
@pytest.mark.parametrize(
    ("extra", "allow_http", "path_style"),
    [
        ({}, False, False),  # use_ssl defaults to true; path style follows: virtual hosts
        ({"use_ssl": True}, False, False),
        ({"use_ssl": False}, True, True),  # plain http: path style by default
        ({"use_ssl": False, "force_path_style": False}, True, False),
        ({"use_ssl": True, "force_path_style": True}, False, True),
    ],
)
def test_s3_compatible_flags(platform: str, extra: dict, allow_http: bool, path_style: bool) -> None:
    endpoint = "http://127.0.0.1:9000"
    b = bucket(platform, extra_config={"endpoint_url": endpoint, **extra}, auth_config=HMAC)
    kwargs = storage_arguments(b, "repo", credentials_from_bucket(b)).kwargs
    assert kwargs["bucket"] == "bkt" and kwargs["prefix"] == "repo"
    assert kwargs["endpoint_url"] == endpoint and kwargs["region"] is None
    assert kwargs["allow_http"] is allow_http
    assert kwargs["force_path_style"] is path_style
    assert kwargs["access_key_id"] == AK and kwargs["secret_access_key"] == SK
    built = repr(icechunk_storage(b, "repo", credentials_from_bucket(b)))
    assert built.startswith("<icechunk.Storage>\ntype: S3 (native)\nbucket: bkt\nprefix: repo\n")
    assert f"endpoint_url: {endpoint}" in built
    # icechunk's repr lists only the flags that are on
    assert ("allow_http: True" in built) is allow_http
    assert ("force_path_style: True" in built) is path_style


def test_s3_anonymous() -> None:
    b = bucket("s3", extra_config={"region_name": "us-west-2"})
    assert credentials_from_bucket(b) is None
    assert not can_write(b)
    kwargs = storage_arguments(b, "public/data").kwargs
    assert kwargs["anonymous"] is True
    assert not {"access_key_id", "secret_access_key", "session_token"} & set(kwargs)
    built = repr(icechunk_storage(b, "public/data"))
    assert "type: S3 (native)\nbucket: bkt\nprefix: public/data\nregion: us-west-2\n" in built
    assert "anonymous: True" in built


def test_s3_refresh_callback_wins_over_static_credentials() -> None:
    def refresh() -> None:  # pragma: no cover - never called here
        raise AssertionError

    b = bucket("s3", extra_config={"region_name": "us-east-1"}, auth_config=HMAC)
    kwargs = storage_arguments(
        b, "p", S3_CREDS, get_credentials=refresh, scatter_initial_credentials=False
    ).kwargs
    assert kwargs["get_credentials"] is refresh and kwargs["scatter_initial_credentials"] is False
    assert "access_key_id" not in kwargs and "anonymous" not in kwargs


@pytest.mark.parametrize("creds", [GS_CREDS, AZ_CREDS])
def test_s3_refuses_other_credentials(creds: Any) -> None:
    with pytest.raises(TypeError, match="S3 storage needs S3 credentials"):
        storage_arguments(bucket("s3", extra_config={"region_name": "us-east-1"}), "p", creds)


def test_hmac_keys_are_only_used_on_s3_like_platforms() -> None:
    # a gs bucket cannot be built with hmac (validation refuses it); a response that carries one anyway
    # must not turn its keys into S3 credentials for a GCS store
    b = bucket("gs").model_copy(update={"auth_config": bucket("s3", auth_config=HMAC).auth_config})
    assert credentials_from_bucket(b) is None


# ------------------------------------------------------------------------------------------------- gs


def test_gs_anonymous() -> None:
    b = bucket("gs", name="gbkt")
    args = storage_arguments(b, "x/y")
    assert args.builder == "gcs_storage"
    assert args.kwargs == {"bucket": "gbkt", "prefix": "x/y", "anonymous": True}
    assert repr(args.build()) == "<icechunk.Storage>\ntype: GCS\nbucket: gbkt\nprefix: x/y\n"


def test_gs_with_bearer_token() -> None:
    args = storage_arguments(bucket("gs", name="gbkt"), "x", GS_CREDS)
    assert args.kwargs == {"bucket": "gbkt", "prefix": "x", "bearer_token": "gcs-bearer-token"}
    built = repr(args.build())
    assert built.startswith("<icechunk.Storage>\ntype: GCS\nbucket: gbkt\nprefix: x\n")
    assert "gcs-bearer-token" not in built


@pytest.mark.parametrize("creds", [S3_CREDS, AZ_CREDS])
def test_gs_refuses_other_credentials(creds: Any) -> None:
    with pytest.raises(TypeError, match="GCS storage needs GCS credentials"):
        storage_arguments(bucket("gs"), "p", creds)


# ---------------------------------------------------------------------------------------------- azure


def test_azure_anonymous_uses_the_storage_account_of_the_auth_config() -> None:
    b = bucket("azure", name="container", auth_config={"method": "anonymous", "storage_account": "acct"})
    args = storage_arguments(b, "p")
    assert args.builder == "azure_storage"
    assert args.kwargs == {"container": "container", "prefix": "p", "account": "acct", "anonymous": True}
    assert repr(args.build()) == (
        "<icechunk.Storage>\ntype: Azure\naccount: acct\ncontainer: container\nprefix: p\n"
    )


def test_azure_with_sas_token() -> None:
    b = bucket("azure", name="container", auth_config={"method": "anonymous", "storage_account": "acct"})
    args = storage_arguments(b, "p", AZ_CREDS)
    assert args.kwargs == {
        "container": "container",
        "prefix": "p",
        "account": "sas-account",
        "sas_token": "sv=2024&sig=abc",
    }
    built = repr(args.build())
    assert "type: Azure\naccount: sas-account\ncontainer: container\nprefix: p" in built
    assert "sig=abc" not in built


def test_azure_without_account_is_refused() -> None:
    with pytest.raises(ValueError, match="names no storage account"):
        storage_arguments(bucket("azure"), "p")


@pytest.mark.parametrize("creds", [S3_CREDS, GS_CREDS])
def test_azure_refuses_other_credentials(creds: Any) -> None:
    b = bucket("azure", auth_config={"method": "anonymous", "storage_account": "acct"})
    with pytest.raises(TypeError, match="Azure storage needs Azure credentials"):
        storage_arguments(b, "p", creds)


def test_unknown_platform_is_refused() -> None:
    weird = local_bucket().model_copy(update={"platform": "ftp"})
    with pytest.raises(ValueError, match="unsupported platform"):
        storage_arguments(weird, "p")


# ---------------------------------------------------------------------------- virtual chunk containers


@pytest.mark.parametrize(
    ("b", "expected"),
    [
        (local_bucket(), f"file://{LOCAL_PATH}/"),
        (local_bucket(path=LOCAL_PATH + "/"), f"file://{LOCAL_PATH}/"),
        (local_bucket(prefix="sub/dir"), f"file://{LOCAL_PATH}/sub/dir/"),
        (bucket("s3", extra_config={"region_name": "us-east-1"}), "s3://bkt/"),
        (bucket("s3", prefix="a/b", extra_config={"region_name": "us-east-1"}), "s3://bkt/a/b/"),
        (bucket("s3-compatible", prefix="p", extra_config={"endpoint_url": "http://h:1"}), "s3://bkt/p/"),
        (bucket("minio", extra_config={"endpoint_url": "http://h:1"}), "s3://bkt/"),
        (bucket("gs", prefix="p"), "gs://bkt/p/"),
        (bucket("azure", auth_config={"method": "anonymous", "storage_account": "acct"}), "az://bkt/"),
    ],
)
def test_container_url_prefix(b: BucketResponse, expected: str) -> None:
    assert container_url_prefix(b) == expected


def test_container_store_config_local() -> None:
    store = container_store_config(local_bucket())
    assert isinstance(store, icechunk.ObjectStoreConfig.LocalFileSystem)
    assert str(store._0) == LOCAL_PATH


def test_container_store_config_s3() -> None:
    store = container_store_config(bucket("s3", extra_config={"region_name": "eu-central-1"}))
    assert isinstance(store, icechunk.ObjectStoreConfig.S3)
    options = store._0
    assert options.region == "eu-central-1" and options.endpoint_url is None
    assert options.allow_http is False and options.force_path_style is False


@pytest.mark.parametrize("platform", ["s3-compatible", "minio"])
def test_container_store_config_s3_compatible(platform: str) -> None:
    b = bucket(platform, extra_config={"endpoint_url": "http://127.0.0.1:9000", "use_ssl": False})
    store = container_store_config(b)
    assert isinstance(store, icechunk.ObjectStoreConfig.S3Compatible)
    options = store._0
    assert options.endpoint_url == "http://127.0.0.1:9000"
    assert options.allow_http is True and options.force_path_style is True


def test_container_store_config_gs_and_azure() -> None:
    assert isinstance(container_store_config(bucket("gs")), icechunk.ObjectStoreConfig.Gcs)
    with pytest.raises(ValueError, match="not supported on azure buckets"):
        container_store_config(bucket("azure", auth_config={"method": "anonymous", "storage_account": "a"}))


def test_container_credentials_local_and_s3() -> None:
    assert container_credentials(local_bucket(), None) is icechunk.credentials.LocalFileSystemAccess
    s3 = bucket("s3", extra_config={"region_name": "us-east-1"})
    assert isinstance(container_credentials(s3, None), icechunk.S3Credentials.Anonymous)
    static = container_credentials(s3, S3_CREDS)
    assert isinstance(static, icechunk.S3Credentials.Static)
    assert static._0.access_key_id == AK and static._0.secret_access_key == SK
    with pytest.raises(TypeError, match="S3 storage needs S3 credentials"):
        container_credentials(s3, GS_CREDS)


def test_container_credentials_gs() -> None:
    gs = bucket("gs")
    assert isinstance(container_credentials(gs, None), icechunk.GcsCredentials.Anonymous)
    static = container_credentials(gs, GS_CREDS)
    # what container_credentials returns goes into icechunk.containers_credentials: it must be accepted there
    assert isinstance(static, icechunk.GcsCredentials.Static)
    mapped = icechunk.containers_credentials({"gs://bkt/": static})
    assert isinstance(mapped["gs://bkt/"], icechunk.Credentials.Gcs)


def test_container_credentials_are_accepted_by_icechunk() -> None:
    s3 = bucket("s3", extra_config={"region_name": "us-east-1"})
    mapped = icechunk.containers_credentials(
        {
            "file:///data/": container_credentials(local_bucket(), None),
            "s3://bkt/": container_credentials(s3, S3_CREDS),
            "s3://anon/": container_credentials(s3, None),
            "gs://bkt/": container_credentials(bucket("gs"), None),
        }
    )
    assert isinstance(mapped["s3://bkt/"], icechunk.Credentials.S3)
    assert isinstance(mapped["gs://bkt/"], icechunk.Credentials.Gcs)


def test_container_credentials_azure_is_refused() -> None:
    with pytest.raises(ValueError, match="not supported on azure buckets"):
        container_credentials(
            bucket("azure", auth_config={"method": "anonymous", "storage_account": "a"}), None
        )


# ------------------------------------------------------------------------------------ apply_bucket_flags


def test_apply_bucket_flags_without_flags_returns_the_config_unchanged() -> None:
    b = bucket("s3", extra_config={"region_name": "us-east-1"})
    assert apply_bucket_flags(b, None) is None
    config = icechunk.RepositoryConfig.default()
    assert apply_bucket_flags(b, config) is config
    assert config.storage is None


def test_apply_bucket_flags_on_no_config() -> None:
    b = bucket(
        "s3-compatible",
        extra_config={
            "endpoint_url": "http://h:1",
            "unsafe_use_conditional_update": False,
            "unsafe_use_conditional_create": False,
        },
    )
    config = apply_bucket_flags(b, None)
    assert isinstance(config, icechunk.RepositoryConfig)
    assert config.storage.unsafe_use_conditional_update is False
    assert config.storage.unsafe_use_conditional_create is False


def test_apply_bucket_flags_merges_into_existing_settings() -> None:
    b = bucket(
        "s3-compatible",
        extra_config={"endpoint_url": "http://h:1", "unsafe_use_conditional_update": False},
    )
    config = icechunk.RepositoryConfig.default()
    config.inline_chunk_threshold_bytes = 77
    config.storage = icechunk.StorageSettings(
        concurrency=icechunk.StorageConcurrencySettings(max_concurrent_requests_for_object=7),
        unsafe_use_metadata=False,
    )
    merged = apply_bucket_flags(b, config)
    assert merged is not None
    assert merged.inline_chunk_threshold_bytes == 77
    assert merged.storage.concurrency.max_concurrent_requests_for_object == 7
    assert merged.storage.unsafe_use_metadata is False
    assert merged.storage.unsafe_use_conditional_update is False
    assert merged.storage.unsafe_use_conditional_create is None  # not set by the bucket: left alone


# -------------------------------------------------------------------------------------- parse_bucket_uri


@pytest.mark.parametrize(
    ("uri", "extra", "expected"),
    [
        ("s3://bkt", None, (Platform.S3, "bkt", "")),
        ("s3://bkt/", None, (Platform.S3, "bkt", "")),
        ("s3://bkt/a/b", None, (Platform.S3, "bkt", "a/b")),
        ("s3://bkt/a/b/", {}, (Platform.S3, "bkt", "a/b")),
        ("S3://bkt/p", None, (Platform.S3, "bkt", "p")),
        ("s3://bkt/p", {"region_name": "us-east-1"}, (Platform.S3, "bkt", "p")),
        ("s3://bkt/p", {"endpoint_url": "http://127.0.0.1:9000"}, (Platform.S3_COMPATIBLE, "bkt", "p")),
        ("s3://bkt/p", {"endpoint_url": ""}, (Platform.S3, "bkt", "p")),
        ("gs://gbkt/x/y", None, (Platform.GS, "gbkt", "x/y")),
        ("az://container/p", None, (Platform.AZURE, "container", "p")),
        ("azure://container", None, (Platform.AZURE, "container", "")),
        ("file://mydata", None, (Platform.LOCAL, "mydata", "")),
        ("file://mydata/sub/dir", None, (Platform.LOCAL, "mydata", "sub/dir")),
    ],
)
def test_parse_bucket_uri(uri: str, extra: dict | None, expected: tuple) -> None:
    assert parse_bucket_uri(uri, extra) == expected


def test_endpoint_url_does_not_change_other_schemes() -> None:
    assert parse_bucket_uri("gs://g/p", {"endpoint_url": "http://h:1"})[0] == Platform.GS


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("gs://", "names no bucket"),
        ("bkt/prefix", "must look like s3://bucket"),
        ("", "must look like s3://bucket"),
        ("s3:/bkt", "must look like s3://bucket"),
        ("ftp://bkt/p", "unsupported bucket URI scheme 'ftp'"),
        ("http://bkt/p", "unsupported bucket URI scheme 'http'"),
        ("s3://user:pass@bkt/p", "must not carry credentials"),
        ("s3://user@bkt/p", "must not carry credentials"),
        ("s3://bkt:9000/p", "must not carry credentials, a port"),
        ("s3://bkt/p?versionId=1", "a query"),
        ("s3://bkt/p#frag", "a fragment"),
        ("s3://bkt/../other", "'.' and '..' segments"),
        ("s3://bkt/a/../../b", "'.' and '..' segments"),
        ("file://local/..", "'.' and '..' segments"),
        ("s3://bkt/a//b", "empty"),
        ("s3://bkt/a b", "use A-Z"),
        ("s3://bkt/a\\b", "use A-Z"),
    ],
)
def test_parse_bucket_uri_refuses(uri: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_bucket_uri(uri, None)


@pytest.mark.parametrize("value", [None, 42])
def test_parse_bucket_uri_needs_a_string(value: Any) -> None:
    with pytest.raises(ValueError, match="bucket URI must look like"):
        parse_bucket_uri(value, None)


@pytest.mark.parametrize("uri", ["s3://bkt:0/p", "s3://bkt:/p", "s3://@bkt/p", "s3://:@bkt/p"])
def test_parse_bucket_uri_never_returns_a_netloc_with_port_or_userinfo_as_bucket_name(uri: str) -> None:
    # The bucket name is the URI's host: a port or user info (even an empty or zero one) must not end up
    # in it; the URI is refused.
    with pytest.raises(ValueError):
        parse_bucket_uri(uri, None)


def refresh() -> Any:  # icechunk pickles the callable: it must be importable
    raise AssertionError("not called until icechunk needs credentials")


def test_expiring_container_credentials_refresh_through_the_given_callable() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    gs_expiring = GSCredentials(access_token="t", principal="me@example.com", expiration=expires)
    s3_expiring = S3Credentials(aws_access_key_id=AK, aws_secret_access_key=SK, expiration=expires)

    gs = container_credentials(Platform.GS, gs_expiring, refresh)
    s3 = container_credentials(bucket("s3", extra_config={"region_name": "us-east-1"}), s3_expiring, refresh)
    assert isinstance(gs, icechunk.GcsCredentials.Refreshable)
    assert isinstance(s3, icechunk.S3Credentials.Refreshable)
    # without a way to refresh, or for credentials that do not expire, they stay static
    assert isinstance(container_credentials(Platform.GS, gs_expiring), icechunk.GcsCredentials.Static)
    assert isinstance(container_credentials(Platform.GS, GS_CREDS, refresh), icechunk.GcsCredentials.Static)
    mapped = icechunk.containers_credentials({"gs://bkt/": gs, "s3://bkt/": s3})
    assert isinstance(mapped["gs://bkt/"], icechunk.Credentials.Gcs)
