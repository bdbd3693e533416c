"""The V1 repo life, run with the seed-era ``arraylake`` client (the 0.15 line) against our service.

This script runs in ``.venv-seed`` (``make seed-client``), never in the project's venv: the seed-era
package shares our import name. It uses only that client's public API, zarr-python 2.18 (``zarr_version=3``,
which needs ``ZARR_V3_EXPERIMENTAL_API=1``) and xarray.

Usage::

    ZARR_V3_EXPERIMENTAL_API=1 .venv-seed/bin/python tests/seed_client/scenario.py \
        --service-url http://127.0.0.1:PORT --token ema_... --org my-org --bucket nickname \
        --repo seed-hmac [--ours-repo written-by-ours] [--short]

It prints one line per step and exits with status 1 at the first step that fails. On success its last
lines are ``RESULT <json>`` (what it left for the test to read back) and ``scenario PASSED``.
``--short`` runs only create, write, commit, read back and the interoperability checks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import xarray as xr
import zarr

import arraylake
from arraylake import Client
from arraylake.asyn import sync

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataset import encoding, weather

EXPECTED_CLIENT_VERSION = "0.15.0"


class ScenarioFailure(Exception):
    """A check of the scenario did not hold."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise ScenarioFailure(message)


_step_count = 0


def fail(step: str, error: BaseException) -> NoReturn:
    print(f"FAIL  {step}", flush=True)
    print(f"      {type(error).__name__}: {error}", flush=True)
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


def raises(call: Callable[[], Any], what: str) -> BaseException:
    """``call`` must raise; the error is returned."""
    try:
        call()
    except Exception as error:
        return error
    raise ScenarioFailure(f"{what}: no error raised")


def repo_object(client: Any, name: str) -> Any:
    """``get_repo_object``: the async client has it; the sync one of this era does not."""
    return sync(client.aclient.get_repo_object, name)


def write(repo: Any, ds: xr.Dataset, group: str, **kwargs: Any) -> None:
    """Write through the repo's zarr-python 2 store, in the V1 (v3-draft) layout."""
    if "append_dim" not in kwargs:
        kwargs["encoding"] = encoding(ds)
    ds.to_zarr(repo.store, group=group, zarr_version=3, consolidated=False, **kwargs)


def same(actual: xr.Dataset, expected: xr.Dataset, what: str) -> None:
    """Values, coordinates and attributes (of the dataset and of every variable) are identical."""
    try:
        xr.testing.assert_identical(actual.load(), expected.load())
    except AssertionError as error:
        raise ScenarioFailure(f"{what}: {error}") from None
    check(actual["tas"].attrs["standard_name"] == "air_temperature", f"{what}: CF attributes lost")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--bucket", required=True, help="nickname of the bucket config for the new repos")
    parser.add_argument("--repo", required=True, help="name (without org) of the repo this run creates")
    parser.add_argument("--ours-repo", help="a V1 repo written by our client, group `era` = weather()")
    parser.add_argument("--short", action="store_true")
    args = parser.parse_args()
    org, name = args.org, f"{args.org}/{args.repo}"
    client: Any = None
    repo: Any = None
    first: Any = None
    ds = weather()

    with step(f"the seed-era client {EXPECTED_CLIENT_VERSION} on zarr-python 2.18"):
        check(arraylake.__version__ == EXPECTED_CLIENT_VERSION, f"arraylake {arraylake.__version__}")
        check(zarr.__version__.startswith("2.18."), f"zarr {zarr.__version__}")
        client = Client(args.service_url, token=args.token)

    with step("the bucket config is visible and usable by this client"):
        bucket = client.get_bucket_config(org=org, nickname=args.bucket)
        check(bucket.nickname == args.bucket and bucket.auth_config is not None, repr(bucket))
        check(
            not set(bucket.extra_config) - {"endpoint_url", "region_name", "use_ssl"},
            f"extra_config {dict(bucket.extra_config)} would reach botocore",
        )

    with step("create_repo makes a V1 repo (the default kind without icechunk) on a write session"):
        repo = client.create_repo(name, bucket_config_nickname=args.bucket)
        check(type(repo).__name__ == "Repo", type(repo))
        check(repo.session.branch == "main" and repo.session.base_commit is None, repo.session.branch)
        check(repo.session.session_type == "write", repo.session.session_type)
        check(repo_object(client, name).kind == "v1", "kind")

    with step("write a CF dataset through repo.store; status lists its paths"):
        write(repo, ds, "era")
        modified = {path for path, deleted in repo.status().modified_paths if not deleted}
        check("meta/root/era/tas.array.json" in modified, sorted(modified)[:10])
        check(any(p.startswith("data/root/era/tas/") for p in modified), "no chunk paths in status")

    with step("commit, and read back values and attributes"):
        first = repo.commit("add two days")
        check(first is not None and repo.session.base_commit == first, f"{first} {repo.session.base_commit}")
        check(repo.session.session_type == "write", "not on a new write session after commit")
        check(repo.status().modified_paths == [], "a fresh session after commit shows no changes")
        same(repo.to_xarray("era"), ds, "after the first commit")
        check(repo.root_group["era/tas"][0, 0, 0] == ds.tas.values[0, 0, 0], "root_group value")

    if not args.short:
        lifecycle(client, repo, name, first, ds)

    with step("a second client sees the committed data (get_repo, read_only)"):
        reader = client.get_repo(name, read_only=True)
        check(reader.session.session_type == "read", reader.session.session_type)
        same(reader.to_xarray("era"), ds, "a read-only checkout")
        error = raises(lambda: write(reader, ds, "nope"), "a write through a read session")
        check("for_writing" in str(error) or isinstance(error, OSError), repr(error))

    result: dict[str, Any] = {
        "repo": name,
        "repo_id": str(repo_object(client, name).id),
        "commit": str(first),
    }
    if args.ours_repo:
        ours: Any = None
        expected = weather(title="written by ours")
        with step("a V1 repo written by our client reads back here: stored values and attributes"):
            ours = client.get_repo(f"{org}/{args.ours_repo}", read_only=True)
            check([c.message for c in ours.commit_log][:1] == ["written by ours"], "our commit message")
            raw = ours.to_xarray("era", mask_and_scale=False, decode_times=False).load()
            check(raw.attrs == expected.attrs, raw.attrs)
            for var in ("tas", "pr", "lat", "lon"):
                np.testing.assert_array_equal(raw[var].values, expected[var].values, err_msg=var)
                check(raw[var].attrs.items() >= expected[var].attrs.items(), f"{var}: {raw[var].attrs}")
            np.testing.assert_array_equal(raw["time"].values, np.arange(48), err_msg="time, in hours")
            check(raw["time"].attrs["units"] == "hours since 2024-01-01 00:00:00", raw["time"].attrs)
        with step("a V1 repo written by our client reads back here: decoded by xarray (recorded)"):
            try:
                same(ours.to_xarray("era"), expected, "decoded")
                result["ours_decoded"] = "identical"
            except ScenarioFailure as error:
                result["ours_decoded"] = str(error)
    print("RESULT " + json.dumps(result), flush=True)
    print(f"scenario PASSED ({_step_count} steps)", flush=True)


def lifecycle(client: Any, repo: Any, name: str, first: Any, ds: xr.Dataset) -> None:
    """Branches, tags, history, time travel, tree, filters, shared sessions, abandon, listing, deletion."""
    org = name.split("/")[0]
    three_days = xr.concat([ds, weather(1, "2024-01-03")], dim="time")
    three_days.attrs = ds.attrs
    on_dev: Any = None

    with step("a branch, a commit on it, a tag"):
        repo.new_branch("dev")
        check(repo.session.branch == "dev", repo.session.branch)
        write(repo, weather(1, "2024-01-03"), "era", append_dim="time")
        on_dev = repo.commit("append a day on dev")
        check(on_dev != first and repo.session.branch == "dev", on_dev)
        branches = {b.id: b.commit_id for b in repo.branches}
        check(branches == {"main": first, "dev": on_dev}, branches)
        tag = repo.tag("v1.0", first, message="first release")
        check(tag.label == "v1.0" and tag.commit.id == first and tag.message == "first release", repr(tag))
        check([t.label for t in repo.tags] == ["v1.0"], repo.tags)

    with step("commit_log walks newest to oldest, with authors and the tag"):
        log = list(repo.commit_log)
        check([c.message for c in log] == ["append a day on dev", "add two days"], [c.message for c in log])
        check([c.id for c in log] == [on_dev, first], [c.id for c in log])
        check(log[0].parent_commit == first and log[1].parent_commit is None, "parents")
        check(all(c.author_email for c in log), "author_email")
        check("v1.0" in repo.commit_log._repr_html_(), "the tag in the rendered log")

    with step("time travel: a tag, a commit id and the branches show their own data"):
        for ref in ("v1.0", str(first), "main"):
            base = repo.checkout(ref, for_writing=False)
            check(base == first, f"{ref}: {base}")
            same(repo.to_xarray("era"), ds, f"checkout {ref}")
        repo.checkout("dev", for_writing=False)
        same(repo.to_xarray("era"), three_days, "checkout dev")
        check(repo.to_xarray("era").sizes["time"] == 72, "dev has three days")

    with step("tree shows the group, its arrays, shapes and attributes"):
        tree = repo.tree()
        era = tree.trees["era"]
        check(set(era.arrays) == {"tas", "pr", "time", "lat", "lon"}, set(era.arrays))
        check(tuple(era.arrays["tas"].shape) == (72, 6, 8), era.arrays["tas"].shape)
        check(era.attributes.get("Conventions") == "CF-1.8", era.attributes)
        check(set(repo.tree("era").arrays) == set(era.arrays), "tree with a prefix")
        check(repo.tree(depth=1).trees["era"].arrays == {}, "depth 1 stops above the arrays")

    with step("filter_metadata runs JMESPath on the server"):
        check(repo.filter_metadata("attributes.standard_name == 'air_temperature'") == ["era/tas"], "tas")
        units = sorted(repo.filter_metadata("attributes.units == 'K' || attributes.axis == 'Y'"))
        check(units == ["era/lat", "era/tas"], units)
        check(repo.filter_metadata("attributes.units == 'furlongs'") == [], "no match")

    with step("two Repo objects write into one session (join_session), one commit has both"):
        repo.checkout("main", for_writing=True)
        other = client.get_repo(name)
        joined = other.join_session(repo.session.id)
        check(joined.id == repo.session.id and other.session.id == repo.session.id, "joined")
        check(any(s.id == repo.session.id for s in repo.list_active_sessions()), "active sessions")
        write(repo, weather(1, title="from the first"), "shared_a")
        write(other, weather(1, title="from the second"), "shared_b")
        groups = {p.split("/")[2] for p, _ in repo.status().modified_paths if p.startswith("meta/root/")}
        check({"shared_a.group.json", "shared_b.group.json"} <= groups, groups)
        shared = repo.commit("two writers, one session")
        check(next(iter(repo.commit_log)).message == "two writers, one session", "log")
        check({b.id: b.commit_id for b in repo.branches}["main"] == shared, "main moved")
        same(repo.to_xarray("shared_b"), weather(1, title="from the second"), "the second writer's group")
        same(repo.to_xarray("shared_a"), weather(1, title="from the first"), "the first writer's group")
        # The session is spent: the server answers "No changes to commit", the client warns and stays put.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = other.commit("again")
        check(again == shared and any("No changes to commit" in str(w.message) for w in caught), again)
        check({b.id: b.commit_id for b in repo.branches}["main"] == shared, "main moved by a spent session")

    with step("two sessions commit disjoint writes to main: the later one rebases (CAS, /rebase)"):
        repo.checkout("main", for_writing=True)
        racer = client.get_repo(name)
        sync(racer.session.update_expiration, timedelta(hours=2))
        check(racer.session.expiration - racer.session.start_time <= timedelta(hours=2, seconds=5), "expiry")
        write(repo, weather(1, title="race a"), "race_a")
        write(racer, weather(1, title="race b"), "race_b")
        won = repo.commit("race a")
        rebased = racer.commit("race b")
        log = list(racer.commit_log)
        check([c.message for c in log[:2]] == ["race b", "race a"], [c.message for c in log[:3]])
        check(log[0].id == rebased and log[0].parent_commit == won, "the later commit sits on the earlier")
        same(racer.to_xarray("race_a"), weather(1, title="race a"), "race_a after the rebase")
        same(racer.to_xarray("race_b"), weather(1, title="race b"), "race_b after the rebase")

    with step("abandon discards a session's writes; its writes are refused afterwards"):
        repo.checkout("main", for_writing=True)
        write(repo, weather(1), "scratch")
        session = repo.session
        sync(session.abandon)
        check(session.expiration <= datetime.now(UTC), f"expiration {session.expiration}")
        error = raises(lambda: write(repo, weather(1), "scratch2"), "a write after abandon")
        check("expire" in str(error).lower() or "session" in str(error).lower(), repr(error))
        repo.checkout("main", for_writing=False)
        check("scratch" not in repo.tree().trees, set(repo.tree().trees))
        check(repo.to_xarray("era").sizes["time"] == 48, "main unchanged")

    with step("a ref that names nothing is refused"):
        error = raises(lambda: repo.checkout("no-such-ref", for_writing=False), "checkout of a missing ref")
        check(isinstance(error, ValueError), repr(error))

    with step("delete a tag and a branch"):
        repo.tag("scratch-tag", on_dev)
        repo.delete_tag("scratch-tag")
        check([t.label for t in repo.tags] == ["v1.0"], [t.label for t in repo.tags])
        repo.delete_branch("dev")
        check({b.id for b in repo.branches} == {"main"}, [b.id for b in repo.branches])

    with step("list_repos, get_repo_object, delete_repo"):
        doomed = f"{org}/{name.split('/')[1]}-doomed"
        client.create_repo(doomed, kind="v1")
        names = {r.name for r in client.list_repos(org)}
        check({name.split("/")[1], doomed.split("/")[1]} <= names, names)
        model = repo_object(client, doomed)
        check(model.kind == "v1" and model.org == org and model.bucket is not None, repr(model))
        error = raises(lambda: client.delete_repo(doomed, imsure=True), "delete without imreallysure")
        check(isinstance(error, ValueError), repr(error))
        client.delete_repo(doomed, imsure=True, imreallysure=True)
        check(doomed.split("/")[1] not in {r.name for r in client.list_repos(org)}, "still listed")
        raises(lambda: repo_object(client, doomed), "get_repo_object of a deleted repo")

    repo.checkout("main", for_writing=True)


if __name__ == "__main__":
    main()
