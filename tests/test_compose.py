"""``compose.yaml`` (the team set-up: service, PostgreSQL, SeaweedFS) checked without Docker: what it sets
is what the service reads, the service waits for what it needs, and ports, volumes and networks agree."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml

from arraylake.cli.main import app
from arraylake.server.settings import ServerSettings

COMPOSE = Path(__file__).resolve().parents[1] / "compose.yaml"
REQUIRED = {
    "POSTGRES_PASSWORD",
    "SEAWEEDFS_ADMIN_SECRET",
    "SEAWEEDFS_VENDOR_SECRET",
    "SEAWEEDFS_STS_SIGNING_KEY",
}
GIVEN = {name: f"value-of-{name.lower()}" for name in REQUIRED}
TOP_LEVEL = {"version", "name", "services", "networks", "volumes", "secrets", "configs", "include"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class Unset(KeyError):
    """A required variable is not set."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation, on every string of the document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op") or "", match.group("arg") or ""
        current = env.get(name)
        missing = current is None or (op.startswith(":") and current == "")
        if missing and op.endswith("-"):
            return arg
        if missing and op.endswith("?"):
            raise Unset(f"{name}: {arg}")
        return current or ""

    return VARIABLE.sub(substitute, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, GIVEN)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def option(command: list[str], name: str) -> str:
    """The value of ``--name VALUE`` or ``-name=VALUE`` in a command."""
    for i, arg in enumerate(command):
        if arg == name:
            return command[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {command}")


def published(service: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port."""
    ports: dict[int, int] = {}
    for entry in service.get("ports") or []:
        host, _, container = str(entry).rpartition(":")
        assert host and container, f"publish ports as HOST:CONTAINER, got {entry!r}"
        ports[int(host.rsplit(":", 1)[-1])] = int(container.split("/")[0])
    return ports


def test_it_is_a_compose_file_with_the_three_parts(raw: dict[str, Any]) -> None:
    assert {k for k in raw if not k.startswith("x-")} <= TOP_LEVEL
    assert set(raw["services"]) == {"arraylake", "postgres", "seaweedfs"}


def test_secrets_are_required_not_defaulted(raw: dict[str, Any]) -> None:
    for name in REQUIRED:
        with pytest.raises(Unset, match=name):
            interpolate(raw, {k: v for k, v in GIVEN.items() if k != name})
    assert "value-of-postgres_password" in json.dumps(interpolate(raw, GIVEN))


def test_every_service_setting_is_real_and_valid(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["arraylake"])
    names = {
        k.removeprefix("ARRAYLAKE_SERVER_").lower(): v
        for k, v in env.items()
        if k.startswith("ARRAYLAKE_SERVER_")
    }
    assert names, "the service is configured through ARRAYLAKE_SERVER_* variables"
    unknown = set(names) - set(ServerSettings.model_fields)
    assert not unknown, f"not settings of the service: {sorted(unknown)}"
    settings = ServerSettings(**names)  # values of the right types, too
    assert not settings.is_sqlite


def test_the_service_waits_for_its_database_and_its_store(compose: dict[str, Any]) -> None:
    services = compose["services"]
    needs = services["arraylake"]["depends_on"]
    assert set(needs) == {"postgres", "seaweedfs"}
    for name, condition in needs.items():
        assert condition["condition"] == "service_healthy"
        assert services[name]["healthcheck"]["test"], f"{name} needs a health check to be waited for"


def test_the_database_url_reaches_the_postgres_service(compose: dict[str, Any]) -> None:
    url = urlsplit(environment(compose["services"]["arraylake"])["ARRAYLAKE_SERVER_DATABASE_URL"])
    postgres = environment(compose["services"]["postgres"])
    assert url.scheme == "postgresql+asyncpg" and url.hostname == "postgres" and url.port in (None, 5432)
    assert url.username == postgres["POSTGRES_USER"] and url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_bucket_configs_may_name_the_store(compose: dict[str, Any]) -> None:
    """Bucket configs may name public addresses only by default; the store is on the compose network."""
    services = compose["services"]
    settings = ServerSettings(
        endpoint_networks=environment(services["arraylake"])["ARRAYLAKE_SERVER_ENDPOINT_NETWORKS"]
    )
    policy = settings.endpoint_policy
    store_names = {"seaweedfs"}
    for network in (services["seaweedfs"].get("networks") or {}).values():
        store_names |= set((network or {}).get("aliases") or [])
    compose_address = ipaddress.ip_address("172.18.0.3")  # what Docker gives containers by default
    assert store_names & policy.hosts or policy.allows_address(compose_address), (
        f"ENDPOINT_NETWORKS {settings.endpoint_networks} does not allow the store ({sorted(store_names)})"
    )
    assert not policy.allows_address(ipaddress.ip_address("169.254.169.254")), "no cloud metadata"


def test_ports_are_published_where_the_processes_listen(compose: dict[str, Any]) -> None:
    services = compose["services"]
    service, store = services["arraylake"], services["seaweedfs"]
    # listening on every interface, to be reached from outside its container
    assert ipaddress.ip_address(option(service["command"], "--host")).is_unspecified
    assert list(published(service).values()) == [int(option(service["command"], "--port"))]
    assert list(published(store).values()) == [int(option(store["command"], "-s3.port"))]
    assert ipaddress.ip_address(option(store["command"], "-ip.bind")).is_unspecified
    assert not published(services["postgres"]), "the database stays inside the compose network"
    host_ports = [p for s in services.values() for p in published(s)]
    assert len(host_ports) == len(set(host_ports)) and all(0 < p < 65536 for p in host_ports)


def test_the_service_command_is_the_command_line(compose: dict[str, Any]) -> None:
    service = compose["services"]["arraylake"]
    assert service["entrypoint"] == ["arraylake"]
    group = typer.main.get_command(app)
    words = [w for w in service["command"] if not w.startswith("-")]
    command = group.get_command(None, words[0]).get_command(None, words[1])  # type: ignore[union-attr]
    known = {o for p in command.params for o in p.opts}
    assert {w for w in service["command"] if w.startswith("--")} <= known


def test_volumes_are_declared_and_hold_the_data(compose: dict[str, Any]) -> None:
    declared, used = set(compose["volumes"]), set()
    mounts: dict[str, dict[str, str]] = {}
    for name, service in compose["services"].items():
        for entry in service.get("volumes") or []:
            source, target = str(entry).split(":")[:2]
            assert target.startswith("/"), entry
            assert not source.startswith((".", "/")), f"{name}: named volumes only, not host paths: {entry}"
            used.add(source)
            mounts.setdefault(name, {})[target] = source
    assert used == declared
    data_dir = environment(compose["services"]["arraylake"])["ARRAYLAKE_SERVER_DATA_DIR"]
    assert (
        data_dir in mounts["arraylake"]
        and option(compose["services"]["arraylake"]["command"], "--data-dir") == data_dir
    )
    assert "/var/lib/postgresql/data" in mounts["postgres"]
    assert option(compose["services"]["seaweedfs"]["command"], "-dir") in mounts["seaweedfs"]


def test_the_store_enforces_sts_for_the_vending_role(compose: dict[str, Any]) -> None:
    store = compose["services"]["seaweedfs"]
    configs = {c["source"]: c["target"] for c in store["configs"]}
    assert set(configs) <= set(compose["configs"])
    files = {target: json.loads(compose["configs"][source]["content"]) for source, target in configs.items()}
    s3 = files[option(store["command"], "-s3.config")]
    iam = files[option(store["command"], "-s3.iam.config")]
    keys = {c["accessKey"]: c["secretKey"] for i in s3["identities"] for c in i["credentials"]}
    assert keys["arraylake-vendor"] == GIVEN["SEAWEEDFS_VENDOR_SECRET"]
    assert iam["policy"]["defaultEffect"] == "Deny"
    assert [r["roleArn"] for r in iam["roles"]] == ["arn:aws:iam::000000000000:role/ArraylakeVending"]
    assert iam["sts"]["signingKey"] == GIVEN["SEAWEEDFS_STS_SIGNING_KEY"]
