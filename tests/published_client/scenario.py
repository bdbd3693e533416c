"""The wire-protocol §11 conformance scenario, run with the *published* ``arraylake`` client (1.7.0).

This script runs in ``.venv-published`` (``make published-client``), never in the project's venv: the
published package shares our import name. It uses only the published client's public API and icechunk/zarr.

Usage::

    .venv-published/bin/python tests/published_client/scenario.py \
        --service-url http://127.0.0.1:PORT --token ema_... --org my-org \
        --s3-endpoint http://127.0.0.1:8333 --s3-bucket my-bucket \
        --s3-access-key KEY --s3-secret SECRET

It prints one line per step and exits with status 1 at the first step that fails, after printing the
failure (and, for HTTP errors, the status code and the service's answer).
Not covered, because the service does not offer them yet: the permission check and the token lookup.
The compute services have a scenario of their own, ``compute_scenario.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import time as dtime
from typing import Any, NoReturn

import icechunk
import numpy as np
import zarr

import arraylake
from arraylake import Client
from arraylake.exceptions import ArraylakeHttpError
from arraylake.types import ExpirationConfig, GCConfig, OptimizationConfig, OptimizationWindow

NICKNAME = "conformance-s3"
EXPECTED_CLIENT_VERSION = "1.7.0"


class ScenarioFailure(Exception):
    """A check of the scenario did not hold."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise ScenarioFailure(message)


_started = time.monotonic()
_step_count = 0


def fail(step: str, error: BaseException) -> NoReturn:
    print(f"FAIL  {step}", flush=True)
    if isinstance(error, ArraylakeHttpError):
        print(f"      HTTP error {error.status_code} ({type(error).__name__}): {error}", flush=True)
    elif isinstance(error, ScenarioFailure):
        print(f"      check failed: {error}", flush=True)
    else:
        print(f"      {type(error).__name__}: {error}", flush=True)
    print("      traceback:", flush=True)
    for line in traceback.format_exception(error):
        for sub in line.rstrip("\n").splitlines():
            print(f"      | {sub}", flush=True)
    print(f"scenario FAILED at step {_step_count}: {step}", flush=True)
    sys.exit(1)


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    """Run one step; print ``ok`` with its duration, or the failure, and stop the script."""
    global _step_count
    _step_count += 1
    t0 = time.monotonic()
    try:
        yield
    except Exception as error:
        fail(name, error)
    print(f"ok    {name} ({time.monotonic() - t0:.2f}s)", flush=True)


def expect_http_error(status: int, call: Callable[[], Any], what: str) -> ArraylakeHttpError:
    """``call`` must raise the client's HTTP error with ``status``."""
    try:
        result = call()
    except ArraylakeHttpError as error:
        check(
            error.status_code == status,
            f"{what}: expected HTTP {status}, got HTTP {error.status_code} ({type(error).__name__}: {error})",
        )
        return error
    raise ScenarioFailure(f"{what}: expected HTTP {status}, but the call succeeded and returned {result!r}")


def write_values(repo: icechunk.Repository, values: np.ndarray, message: str) -> str:
    session = repo.writable_session("main")
    root = zarr.group(store=session.store)
    array = root.create_array("values", shape=values.shape, chunks=(4,), dtype=values.dtype)
    array[:] = values
    root.attrs["written_by"] = "published-client-conformance"
    return session.commit(message)


def read_values(repo: icechunk.Repository) -> np.ndarray:
    root = zarr.open_group(store=repo.readonly_session("main").store, mode="r")
    return np.asarray(root["values"][:])


def same_values(repo: icechunk.Repository, expected: np.ndarray, what: str) -> None:
    got = read_values(repo)
    check(np.array_equal(got, expected), f"{what}: read {got!r}, expected {expected!r}")


def s3_storage(args: argparse.Namespace, prefix: str) -> icechunk.Storage:
    """Direct access to the S3 bucket, without Arraylake."""
    return icechunk.s3_storage(
        bucket=args.s3_bucket,
        prefix=prefix,
        region="us-east-1",
        endpoint_url=args.s3_endpoint,
        allow_http=True,
        force_path_style=True,
        access_key_id=args.s3_access_key,
        secret_access_key=args.s3_secret,
    )


def first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"


def value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def repo_names(repos: Any) -> list[str]:
    return sorted(r.name for r in repos)


def run(args: argparse.Namespace) -> None:
    org = args.org
    first = f"{org}/first"
    second = f"{org}/second"
    values = np.arange(10, dtype="float64") * 1.5

    with step(f"published client is arraylake {EXPECTED_CLIENT_VERSION} from {arraylake.__file__}"):
        check(
            arraylake.__version__ == EXPECTED_CLIENT_VERSION,
            f"arraylake {arraylake.__version__} is installed, expected {EXPECTED_CLIENT_VERSION}",
        )
        check(icechunk.__version__.startswith("2.3."), f"icechunk {icechunk.__version__}, expected 2.3.x")

    with step("Client(service_uri=..., token=...)"):
        client = Client(service_uri=args.service_url, token=args.token)

    with step("list_repos on an empty org"):
        listed = client.list_repos(org)
        check(len(listed) == 0, f"expected no repos, got {repo_names(listed)}")

    with step("list_bucket_configs on an org without buckets"):
        buckets = client.list_bucket_configs(org)
        check(buckets == [], f"expected no bucket configs, got {[b.nickname for b in buckets]}")

    with step("create_bucket_config (s3-compatible, hmac)"):
        created = client.create_bucket_config(
            org=org,
            nickname=NICKNAME,
            uri=f"s3://{args.s3_bucket}",
            endpoint_url=args.s3_endpoint,
            region_name="us-east-1",
            use_ssl=False,
            force_path_style=True,
            auth_config={
                "method": "hmac",
                "access_key_id": args.s3_access_key,
                "secret_access_key": args.s3_secret,
            },
        )
        check(created.nickname == NICKNAME, f"nickname {created.nickname!r}")
        check(value(created.platform) == "s3-compatible", f"platform {created.platform!r}")
        check(created.name == args.s3_bucket, f"bucket name {created.name!r}")
        check(created.prefix == "", f"bucket prefix {created.prefix!r}")
        check(created.is_default is False, "a new bucket config must not be the default")
        extra = created.extra_config
        check(extra.get("endpoint_url") == args.s3_endpoint, f"extra_config {extra!r}")
        check(extra.get("region_name") == "us-east-1", f"extra_config {extra!r}")
        check(extra.get("use_ssl") is False, f"extra_config {extra!r}")
        check(extra.get("force_path_style") is True, f"extra_config {extra!r}")
        auth = created.auth_config
        check(auth is not None and auth.method == "hmac", f"auth_config {auth!r}")
        check(
            getattr(auth, "access_key_id", None) == args.s3_access_key
            and getattr(auth, "secret_access_key", None) == args.s3_secret,
            "the hmac keys must come back in clear text",
        )

    with step("create_bucket_config with a taken nickname fails with 409"):
        expect_http_error(
            409,
            lambda: client.create_bucket_config(
                org=org,
                nickname=NICKNAME,
                uri=f"s3://{args.s3_bucket}",
                endpoint_url=args.s3_endpoint,
                region_name="us-east-1",
                use_ssl=False,
                auth_config={
                    "method": "hmac",
                    "access_key_id": args.s3_access_key,
                    "secret_access_key": args.s3_secret,
                },
            ),
            "duplicate bucket nickname",
        )

    with step("set_default_bucket_config"):
        check(client.set_default_bucket_config(org=org, nickname=NICKNAME) is None, "expected None")

    with step("get_bucket_config"):
        got = client.get_bucket_config(org=org, nickname=NICKNAME)
        check(got.id == created.id, f"id {got.id} != {created.id}")
        check(got.is_default is True, "the bucket config must be the default after set_default")

    with step("list_bucket_configs"):
        buckets = client.list_bucket_configs(org)
        check([b.nickname for b in buckets] == [NICKNAME], f"got {[b.nickname for b in buckets]}")
        check(buckets[0].is_default is True and buckets[0].id == created.id, f"got {buckets[0]!r}")

    with step("create_repo in the default bucket, write and commit a zarr array"):
        repo = client.create_repo(
            first, description="published client conformance", metadata={"k": "v", "n": 1}
        )
        check(isinstance(repo, icechunk.Repository), f"create_repo returned {type(repo)!r}")
        snapshot = write_values(repo, values, "first values")

    with step("get_repo and read the array back"):
        repo = client.get_repo(first)
        same_values(repo, values, "get_repo")
        tip = repo.lookup_branch("main")
        check(tip == snapshot, f"main is at {tip}, expected the commit {snapshot}")

    with step("get_repo_object"):
        model = client.get_repo_object(first)
        check((model.org, model.name) == (org, "first"), f"got {model.org}/{model.name}")
        check(value(model.kind) == "icechunk", f"kind {model.kind!r}")
        check(model.description == "published client conformance", f"description {model.description!r}")
        check(model.metadata == {"k": "v", "n": 1}, f"metadata {model.metadata!r}")
        check(bool(model.prefix), f"prefix {model.prefix!r}")
        check(model.bucket is not None and model.bucket.nickname == NICKNAME, f"bucket {model.bucket!r}")
        check(value(model.status.mode) == "online", f"status {model.status!r}")
        first_prefix = model.prefix

    with step("modify_repo with optimization_config; get_repo_object reads it back"):
        config = OptimizationConfig(
            window=OptimizationWindow(duration=6 * 3600, start_time=dtime(2, 30), day_of_week=6),
            expiration_config=ExpirationConfig(expire_versions_older_than=30 * 86400, enabled=True),
            gc_config=GCConfig(dangling_chunks=2 * 86400, dangling_manifests=2 * 86400, enabled=True),
        )
        client.modify_repo(first, optimization_config=config)
        model = client.get_repo_object(first)
        check(model.optimization_config == config, f"optimization_config {model.optimization_config!r}")
        check(model.description == "published client conformance", f"description {model.description!r}")

    with step("get_icechunk_storage + icechunk.Repository.open"):
        storage = client.get_icechunk_storage(first)
        check(isinstance(storage, icechunk.Storage), f"got {type(storage)!r}")
        same_values(icechunk.Repository.open(storage), values, "Repository.open(get_icechunk_storage)")

    with step("get_or_create_repo on the existing repo opens it"):
        repo = client.get_or_create_repo(first)
        same_values(repo, values, "get_or_create_repo")
        repo = client.get_or_create_repo(first, bucket_config_nickname=NICKNAME)
        same_values(repo, values, "get_or_create_repo(bucket_config_nickname=...)")

    with step("create_repo with a taken name fails with 409 and leaves the repo alone"):
        expect_http_error(409, lambda: client.create_repo(first), "duplicate repo name")
        same_values(client.get_repo(first), values, "after the duplicate-name create")

    with step("create_repo into the prefix of another repo fails and leaves no catalog entry"):
        collide = f"{org}/collide"
        try:
            client.create_repo(collide, prefix=first_prefix)
        except ArraylakeHttpError as error:
            # The service refusing the prefix itself (4xx) is a correct outcome too.
            check(
                error.status_code is not None and 400 <= error.status_code < 500,
                f"a taken prefix got HTTP {error.status_code}, expected a 4xx ({error})",
            )
            print(f"      (the service refused the prefix: HTTP {error.status_code})", flush=True)
        except Exception as error:
            # The client's own path: icechunk refuses the non-empty prefix, and the client then
            # sends DELETE ?immediate=true&retain_data=true to drop the registration.
            print(f"      (icechunk refused the prefix: {first_line(error)})", flush=True)
        else:
            raise ScenarioFailure("create_repo into another repo's prefix succeeded")
        names = repo_names(client.list_repos(org))
        check(names == ["first"], f"list_repos shows {names}, expected only ['first']")
        expect_http_error(404, lambda: client.get_repo_object(collide), "get_repo_object of the failed repo")
        same_values(client.get_repo(first), values, "the first repo after the failed create")

    with step("create_repo into a prefix holding data the catalog doesn't know: cleanup keeps the data"):
        # An icechunk repo written straight to the bucket, behind the service's back. Whether the service
        # refuses the prefix or the client's cleanup DELETE (?immediate=true&retain_data=true) runs after
        # icechunk's "clean prefix" error, the catalog must be left clean and the bytes untouched.
        foreign_prefix = "written-outside-arraylake"
        foreign = icechunk.Repository.create(s3_storage(args, foreign_prefix))
        write_values(foreign, values + 100, "written outside arraylake")
        try:
            client.create_repo(f"{org}/intruder", prefix=foreign_prefix)
        except ArraylakeHttpError as error:
            check(
                error.status_code is not None and 400 <= error.status_code < 500,
                f"a prefix with data got HTTP {error.status_code}, expected a 4xx ({error})",
            )
            print(f"      (the service refused the prefix: HTTP {error.status_code})", flush=True)
        except Exception as error:
            print(f"      (icechunk refused the prefix: {first_line(error)})", flush=True)
        else:
            raise ScenarioFailure("create_repo into a prefix holding another icechunk repo succeeded")
        names = repo_names(client.list_repos(org))
        check(names == ["first"], f"list_repos shows {names}, expected only ['first']")
        expect_http_error(
            404, lambda: client.get_repo_object(f"{org}/intruder"), "get_repo_object of the failed repo"
        )
        same_values(
            icechunk.Repository.open(s3_storage(args, foreign_prefix)),
            values + 100,
            "the data in the prefix after the failed create",
        )

    with step("the name of the failed create is free again (create_repo 'second' works too)"):
        retry = client.create_repo(collide)
        write_values(retry, values[:4], "retry")
        client.delete_repo(collide, imsure=True, imreallysure=True, immediate=True)
        repo2 = client.create_repo(second, metadata={"k": "other"})
        write_values(repo2, values * 2, "second values")

    with step("list_repos_for_bucket_config"):
        names = repo_names(client.list_repos_for_bucket_config(org=org, nickname=NICKNAME))
        check(names == ["first", "second"], f"got {names}")

    with step("list_repos with filter_metadata"):
        names = repo_names(client.list_repos(org, filter_metadata={"k": "v"}))
        check(names == ["first"], f"filter k=v: got {names}")
        names = repo_names(client.list_repos(org, filter_metadata={"k": "other"}))
        check(names == ["second"], f"filter k=other: got {names}")
        names = repo_names(client.list_repos(org, filter_metadata={"k": "v", "n": 1}))
        check(names == ["first"], f"filter k=v,n=1: got {names}")
        names = repo_names(client.list_repos(org, filter_metadata={"k": "nope"}))
        check(names == [], f"filter k=nope: got {names}")
        names = repo_names(client.list_repos(org))
        check(names == ["first", "second"], f"no filter: got {names}")

    with step("list_repos_paginated"):
        check(hasattr(client, "list_repos_paginated"), "Client has no list_repos_paginated")
        names = sorted(r.name for r in client.list_repos_paginated(org, page_size=1))
        check(names == ["first", "second"], f"page_size=1: got {names}")
        names = sorted(r.name for r in client.list_repos_paginated(org, filter_metadata={"k": "v"}))
        check(names == ["first"], f"filter k=v: got {names}")

    with step("delete_bucket_config of a bucket in use fails with 409"):
        expect_http_error(
            409,
            lambda: client.delete_bucket_config(org=org, nickname=NICKNAME, imsure=True, imreallysure=True),
            "delete_bucket_config while in use",
        )
        check(
            [b.nickname for b in client.list_bucket_configs(org)] == [NICKNAME],
            "the bucket config must still be there",
        )

    with step("delete_repo(immediate=True), then get_repo_object fails with 404"):
        client.delete_repo(first, imsure=True, imreallysure=True, immediate=True)
        expect_http_error(404, lambda: client.get_repo_object(first), "get_repo_object after delete_repo")
        names = repo_names(client.list_repos(org))
        check(names == ["second"], f"list_repos after delete: got {names}")
        client.delete_repo(second, imsure=True, imreallysure=True, immediate=True)
        expect_http_error(404, lambda: client.get_repo_object(second), "get_repo_object after delete_repo")
        names = repo_names(client.list_repos(org))
        check(names == [], f"list_repos after deleting both: got {names}")

    with step("delete_bucket_config"):
        client.delete_bucket_config(org=org, nickname=NICKNAME, imsure=True, imreallysure=True)
        buckets = client.list_bucket_configs(org)
        check(buckets == [], f"bucket configs left: {[b.nickname for b in buckets]}")

    print(f"scenario PASSED: {_step_count} steps in {time.monotonic() - _started:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--service-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="an ema_ API token of the org's admin")
    parser.add_argument("--org", required=True, help="an org with no bucket configs and no repos")
    parser.add_argument("--s3-endpoint", required=True, help="SeaweedFS S3 endpoint, http://host:port")
    parser.add_argument("--s3-bucket", required=True, help="an existing, empty S3 bucket")
    parser.add_argument("--s3-access-key", required=True)
    parser.add_argument("--s3-secret", required=True)
    args = parser.parse_args(argv)
    if not args.token.startswith("ema_"):
        parser.error("--token must be an ema_ API token")
    run(args)


if __name__ == "__main__":
    main()
