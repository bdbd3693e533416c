"""Data URLs: ``/{org}/{repo}/{ref}/{group...}/{suffix}/{protocol's own path}``.

The suffix is the deployment protocol's :attr:`ServiceType.url_suffix`; the group is whatever lies between
the ref and the first segment equal to the suffix (empty for the root group), so a group named like the
suffix itself cannot be served. For DAP2, ``opendap.{ext}`` also ends the group: its clients open
``.../opendap`` and append ``.dds``, ``.das`` or ``.dods``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException

from arraylake.types.compute import ServiceType

META_SEGMENT = "_meta"


@dataclass(frozen=True, slots=True)
class DataRoute:
    """A data URL taken apart."""

    org: str
    repo: str
    ref: str
    group: str
    """Slash-separated group path, ``""`` for the root group."""
    suffix: str
    rest: str
    """The protocol's own path after the suffix: ``""``, or starting with ``/`` or ``.`` (``.dds``)."""

    @property
    def public_prefix(self) -> str:
        """``/{org}/{repo}/{ref}[/{group}]``: what replaces the internal ``/datasets/{id}`` in links."""
        path = f"/{self.org}/{self.repo}/{self.ref}"
        return f"{path}/{self.group}" if self.group else path


def parse_data_path(path: str, protocol: ServiceType) -> DataRoute:
    """Split a request path into a :class:`DataRoute`; 404 with a detail when it is not a data URL of
    ``protocol``."""
    suffix = protocol.url_suffix
    segments = path.strip("/").split("/") if path.strip("/") else []
    at = next((i for i in range(3, len(segments)) if _is_suffix(segments[i], protocol)), None)
    if at is None:
        other = _other_suffix(segments[3:], protocol)
        if other is not None:
            raise HTTPException(
                status_code=404,
                detail=f"this service serves {protocol.value} (URLs ending in /{suffix}/...), "
                f"not {other.value}: an org admin can enable a {other.value} service for that",
            )
        raise HTTPException(
            status_code=404,
            detail=f"not a data URL of this service: expected /{{org}}/{{repo}}/{{branch|tag|snapshot}}"
            f"/{{group path}}/{suffix}/...",
        )
    org, repo, ref = segments[:3]
    group_segments = segments[3:at]
    if any(s in ("", ".", "..") for s in group_segments):
        raise HTTPException(status_code=404, detail=f"invalid group path {'/'.join(group_segments)!r}")
    extension = segments[at][len(suffix) :]
    rest = "/".join(segments[at + 1 :])
    if rest:
        rest = f"/{rest}/" if path.endswith("/") else f"/{rest}"
    elif path.endswith("/"):
        rest = "/"
    return DataRoute(
        org=org, repo=repo, ref=ref, group="/".join(group_segments), suffix=suffix, rest=extension + rest
    )


def _is_suffix(segment: str, protocol: ServiceType) -> bool:
    suffix = protocol.url_suffix
    if segment == suffix:
        return True
    return (
        protocol is ServiceType.DAP2 and segment.startswith(f"{suffix}.") and len(segment) > len(suffix) + 1
    )


def _other_suffix(segments: list[str], protocol: ServiceType) -> ServiceType | None:
    for service_type in ServiceType:
        if service_type is not protocol and any(_is_suffix(s, service_type) for s in segments):
            return service_type
    return None
