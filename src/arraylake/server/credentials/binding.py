"""Binding delegated storage to the org that registered it, so that the service is never a confused deputy.

The service assumes customers' AWS roles, impersonates their GCP service accounts and signs in to their
Azure tenants with identities of its own. Without a binding, org A's admin could name org B's role, service
account or tenant and receive credentials for B's storage. Every org therefore has a random
``storage_binding`` (128 bits, migration 0007) that the service generates and no customer chooses:

* **AWS**: it is the STS ``ExternalId`` the service sends with every ``AssumeRole`` for the org. The
  customer's role trusts the service's identity only with ``sts:ExternalId`` equal to it (AWS's own
  confused-deputy guidance), so org A's requests, which carry A's id, cannot assume B's role.
* **GCS**: the bucket must carry the label ``arraylake-<binding>`` with the value ``true``. Before every
  fresh token the service reads the bucket's labels as the impersonated service account and refuses to
  vend without it.
* **Azure**: the container must carry the metadata ``arraylake_<binding>`` with the value ``true``, read
  the same way with the service principal's token in the customer's tenant.

Only someone who controls the bucket or container can set a label or metadata there, so org A cannot prove
a binding for B's storage: knowing B's values does not help, they are checked against A's own.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import orgs
from arraylake.server.errors import InvalidInput, ServiceError
from arraylake.types import (
    AWSCustomerManagedRoleAuth,
    AzureCredentialDelegationAuth,
    GCPCustomerManagedRoleAuth,
    StorageBinding,
)

BOUND = "true"
BINDING_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class BindingMissing(ServiceError):
    """Delegated storage that has not proven it belongs to the org: refused before any credential is vended.

    424 (a dependency the customer must fix), marked not worth retrying."""

    status_code = 424

    def __init__(self, detail: object):
        super().__init__(detail, headers={"x-arraylake-retry": "no"})


def gcs_label(binding: str) -> str:
    """The GCS bucket label (key) that binds a bucket to the org; its value must be ``true``."""
    return f"arraylake-{binding}"


def azure_metadata(binding: str) -> str:
    """The Azure container metadata name that binds a container to the org; its value must be ``true``."""
    return f"arraylake_{binding}"


async def org_binding(conn: AsyncConnection, org_id: str) -> str:
    binding = (
        await conn.execute(select(orgs.c.storage_binding).where(orgs.c.id == org_id))
    ).scalar_one_or_none()
    if not binding:  # orgs are given one on creation and by migration 0007
        raise RuntimeError(f"org {org_id} has no storage binding")
    return binding


def describe(org_name: str, binding: str) -> StorageBinding:
    """What an org's admins set up so that the service may act on their storage."""
    return StorageBinding(
        org=org_name,
        aws_external_id=binding,
        gcs_bucket_label=gcs_label(binding),
        azure_container_metadata=azure_metadata(binding),
        value=BOUND,
    )


def bind(auth: Any, binding: str) -> Any:
    """``auth`` with the org's binding in place; 422 if a request named a different one."""
    if isinstance(auth, AWSCustomerManagedRoleAuth):
        given = auth.shared_secret.get_secret_value() if auth.shared_secret else None
        if given and given != binding and set(given) != {"*"}:
            raise InvalidInput(
                "the external id (shared_secret) of aws_customer_managed_role bucket configs is generated "
                "by the service and cannot be chosen: omit it, or send this org's "
                "(GET /orgs/{org}/storage-binding, `arraylake bucket binding ORG`)"
            )
        return auth.model_copy(update={"shared_secret": SecretStr(binding)})
    if isinstance(auth, GCPCustomerManagedRoleAuth):
        return auth.model_copy(update={"org_binding_label": gcs_label(binding)})
    if isinstance(auth, AzureCredentialDelegationAuth):
        return auth.model_copy(update={"org_binding_metadata": azure_metadata(binding)})
    return auth
