"""``arraylake bucket ...``: bucket configs, the places where an org's repos keep their data."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, Org, Yes, want_json
from arraylake.types import AuthMethod, BucketCheckReport, BucketResponse, HmacAuth, Platform

app = ArraylakeTyper(
    name="bucket",
    help="Bucket configs: where an org's repos keep their data (the buckets themselves are not touched).\n\n"
    "Locations: `file://NAME[/prefix]` (a directory of the service), `s3://bucket[/prefix]` "
    "(with `--extra region_name=...`, or `--extra endpoint_url=...` for S3-compatible stores), "
    "`gs://bucket[/prefix]`, `az://container[/prefix]`.",
)

Nickname = Annotated[str, typer.Argument(metavar="NICKNAME", help="The bucket config's nickname.")]
_SCHEMES = {Platform.LOCAL: "file", Platform.GS: "gs", Platform.AZURE: "az"}


def location(bucket: BucketResponse) -> str:
    """The bucket config as a URI, e.g. ``s3://bucket/prefix``."""
    uri = f"{_SCHEMES.get(bucket.platform, 's3')}://{bucket.name}"
    return f"{uri}/{bucket.prefix}" if bucket.prefix else uri


def _endpoint(bucket: BucketResponse) -> str:
    return str(bucket.extra_config.get("endpoint_url", ""))


def reader_access(bucket: BucketResponse | None) -> str:
    """What a principal who may only read a repo in this bucket receives, in words: not always read-only."""
    auth = bucket.auth_config if bucket else None
    if bucket is None:
        return "nothing (no bucket)"
    if bucket.platform == Platform.LOCAL:
        return "the repo's directory itself: filesystem permissions decide, so readers can also write"
    if isinstance(auth, HmacAuth):
        if auth.writers_only:
            return "nothing: the bucket's HMAC keys go to writers only"
        return "the bucket's HMAC keys, which can write the whole bucket (set writers_only=true to refuse)"
    method = bucket.auth_method
    if method == AuthMethod.ANONYMOUS:
        return "no credentials: unsigned requests, the store decides"
    if method == AuthMethod.AZURE_CREDENTIAL_DELEGATION:
        return "a read-only SAS for the whole container"
    return "read-only credentials for the repo's prefix"


@app.command("list")
def list_buckets(org: Org, json_output: Json = False) -> None:
    """The org's bucket configs; `*` marks the default for new repos."""
    found = state.client().list_bucket_configs(org)
    if want_json(json_output):
        output.print_json(found)
        return
    output.table(
        ["Nickname", "Platform", "Location", "Endpoint", "Auth", "Default", "Readers get"],
        [
            (
                b.nickname,
                b.platform,
                location(b),
                _endpoint(b),
                b.auth_method,
                "*" if b.is_default else "",
                reader_access(b),
            )
            for b in found
        ],
        title=f"Bucket configs of {org}",
    )


def _auth_config(items: list[str] | None) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs; a KEY alone is asked for without echo (for secrets)."""
    if not items:
        return None
    auth: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            auth[key.strip()] = value  # as typed: the service reads numbers from strings
        else:
            auth[item.strip()] = typer.prompt(item.strip(), hide_input=True, err=True)
    auth.setdefault("method", "anonymous")
    return auth


@app.command()
def create(
    org: Org,
    nickname: Nickname,
    uri: Annotated[
        str, typer.Argument(metavar="URI", help="Where: s3://bucket/prefix, gs://..., az://..., file://...")
    ],
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--extra",
            "-e",
            metavar="KEY=VALUE",
            help="Platform settings (repeatable): region_name, endpoint_url, use_ssl, force_path_style.",
        ),
    ] = None,
    auth: Annotated[
        list[str] | None,
        typer.Option(
            "--auth",
            "-a",
            metavar="KEY[=VALUE]",
            help="Credentials (repeatable), e.g. `method=hmac access_key_id=... secret_access_key`; "
            "a KEY without a value is asked for without echo. Default: anonymous.",
        ),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make it the org's default for new repos.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check",
            help="Then try it as `arraylake bucket check` does (list, write, read, delete a scratch key).",
        ),
    ] = True,
    json_output: Json = False,
) -> None:
    """Create a bucket config (this does not create the bucket itself), then check that it works."""
    client = state.client()
    extra_config = dict(state.parse_pair(item, "--extra") for item in extra) if extra else None
    try:
        created = client.create_bucket_config(
            org=org, nickname=nickname, uri=uri, extra_config=extra_config, auth_config=_auth_config(auth)
        )
    except ValidationError as exc:
        raise ValueError(in_cli_words(exc)) from None
    if default:
        client.set_default_bucket_config(org=org, nickname=created.nickname)
        created = client.get_bucket_config(org=org, nickname=created.nickname)
    report = client.check_bucket_config(org=org, nickname=created.nickname) if check else None
    if want_json(json_output):
        output.print_json({**output.jsonable(created), "check": output.jsonable(report)})
    else:
        suffix = " (the org's default)" if created.is_default else ""
        output.say(f"Created bucket config [bold]{created.nickname}[/bold]: {location(created)}{suffix}.")
        _explain(org, created)
        if report is not None:
            _show_check(report)
    if report is not None:
        _end_check(org, report, "was created, but its check failed")


@app.command("check")
def check_bucket(org: Org, nickname: Nickname, json_output: Json = False) -> None:
    """Check that a bucket config works with the credentials clients receive: list, write, read,
    conditional writes and delete on a scratch key under its prefix (removed afterwards).

    Exits 1 when a capability fails; the table says why."""
    report = state.client().check_bucket_config(org=org, nickname=nickname)
    if want_json(json_output):
        output.print_json(report)
    else:
        _show_check(report)
    _end_check(org, report, "does not work")


def _show_check(report: BucketCheckReport) -> None:
    output.table(
        ["Capability", "Result", "Cause"],
        [(s.capability, s.status, s.cause or "") for s in report.steps],
        title=f"Check of bucket config {report.nickname} ({report.location})",
    )


def _end_check(org: str, report: BucketCheckReport, failed: str) -> None:
    """Warn about a scratch key left behind; fail with the first failure's cause."""
    if not report.cleaned_up:
        output.warn(f"the check could not remove its scratch key {report.scratch_key}: delete it yourself.")
    first = next((s for s in report.steps if s.status == "failed"), None)
    if first is not None:
        output.fail(
            f"bucket config {report.nickname} {failed}: {first.capability}: {first.cause}. Fix the bucket "
            f"or the config, then run `arraylake bucket check {org} {report.nickname}`."
        )
    if not report.ok:
        raise typer.Exit(1)


def in_cli_words(exc: ValidationError) -> str:
    """A bucket config's validation errors as one line naming the command's options, not Python's."""
    parts = []
    for error in exc.errors(include_url=False):
        where = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "union_tag_invalid":
            tags = str(error.get("ctx", {}).get("expected_tags", "")).replace("'", "")
            message = f"unknown --auth method {error['ctx']['tag']!r}; use one of {tags}"
        elif where[:1] == ["auth_config"] and len(where) >= 3:
            method, field = where[1], where[2]
            if error["type"] == "missing":
                message = f"--auth method={method} needs --auth {field}=..."
            else:
                message = f"--auth {field}: {message[:1].lower()}{message[1:]}"
        elif where == ["name"]:
            message = f"{message} (the bucket in the URI)"
        parts.append(_option_names(message))
    return "; ".join(parts)


def _option_names(message: str) -> str:
    message = re.sub(r"extra_config\['(\w+)'\]", r"--extra \1", message)
    message = message.replace("extra_config key", "--extra key")
    message = re.sub(r"^(endpoint_url|region_name|use_ssl|force_path_style) ", r"--extra \1 ", message)
    message = re.sub(r"\b(extra_config|auth_config) ([a-z_]+)", _as_option, message)
    return message.replace("extra_config", "--extra").replace("auth_config", "--auth")


def _as_option(found: re.Match[str]) -> str:
    option = "--extra" if found.group(1) == "extra_config" else "--auth"
    return f"{option} {found.group(2)}=..."


def _explain(org: str, bucket: BucketResponse) -> None:
    """Say what readers receive when it is more than read access, and what binding a delegated method
    needs before the service vends anything."""
    access = reader_access(bucket)
    if "write" in access and "writers only" not in access:
        output.warn(f"principals who may only read a repo in {bucket.nickname} receive {access}.")
    method = bucket.auth_method
    if method in (
        AuthMethod.AWS_CUSTOMER_MANAGED_ROLE,
        AuthMethod.CUSTOMER_MANAGED_ROLE,
        AuthMethod.GCP_CUSTOMER_MANAGED_ROLE,
        AuthMethod.AZURE_CREDENTIAL_DELEGATION,
    ):
        output.say(f"Bind it to {org} before use: see `arraylake bucket binding {org}`.")


@app.command()
def info(org: Org, nickname: Nickname, json_output: Json = False) -> None:
    """A bucket config and the repos that keep their data in it."""
    client = state.client()
    bucket = client.get_bucket_config(org=org, nickname=nickname)
    repos = client.list_repos_for_bucket_config(org=org, nickname=nickname)
    if want_json(json_output):
        output.print_json({**output.jsonable(bucket), "repos": [r.full_name for r in repos]})
        return
    auth = output.jsonable(bucket.auth_config) if bucket.auth_config else {"method": "anonymous"}
    output.details(
        {
            "Nickname": bucket.nickname,
            "Id": bucket.id,
            "Platform": bucket.platform,
            "Location": location(bucket),
            "Extra config": bucket.extra_config,
            "Auth": auth,
            "Default": "yes" if bucket.is_default else "no",
            "Readers get": reader_access(bucket),
            "Created": f"{output.when(bucket.created)} UTC",
            "Repos": ", ".join(r.name for r in repos) or "none",
        }
    )


@app.command()
def delete(org: Org, nickname: Nickname, yes: Yes = False) -> None:
    """Delete a bucket config (refused while repos use it; the bucket's data is not touched)."""
    if not yes:
        typer.confirm(f"Delete bucket config {nickname} of {org}?", abort=True, err=True)
    state.client().delete_bucket_config(org=org, nickname=nickname, imsure=True, imreallysure=True)
    output.say(f"Deleted bucket config [bold]{nickname}[/bold].")


@app.command()
def binding(org: Org, json_output: Json = False) -> None:
    """What binds the org's delegated storage to it (org admins; generated by the service).

    AWS roles (aws_customer_managed_role) must require the external id in their trust policy; GCS buckets
    (gcp_customer_managed_role) carry the label and Azure containers (azure_credential_delegation) the
    metadata, each with the value `true`. Until then the service vends no credentials there, so that no
    other org can make it act on your storage.
    """
    found = state.client().get_storage_binding(org)
    if want_json(json_output):
        output.print_json(found)
        return
    output.details(
        {
            "AWS external id": found.aws_external_id,
            "GCS bucket label": f"{found.gcs_bucket_label}={found.value}",
            "Azure container metadata": f"{found.azure_container_metadata}={found.value}",
        },
        title=f"Storage binding of {org}",
    )
    output.say(
        "AWS trust policy condition: "
        f'{{"StringEquals": {{"sts:ExternalId": "{found.aws_external_id}"}}}}\n'
        f"GCS: gcloud storage buckets update gs://BUCKET --update-labels={found.gcs_bucket_label}=true\n"
        "Azure: az storage container metadata update --name CONTAINER --account-name ACCOUNT "
        f"--metadata {found.azure_container_metadata}=true --auth-mode login"
    )


@app.command("set-default")
def set_default(org: Org, nickname: Nickname) -> None:
    """Make a bucket config the org's default for new repos."""
    state.client().set_default_bucket_config(org=org, nickname=nickname)
    output.say(f"[bold]{nickname}[/bold] is now the default bucket config of {org}.")
