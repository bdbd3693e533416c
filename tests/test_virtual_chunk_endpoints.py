"""Virtual chunk credentials go to the authorized bucket's endpoint, never to one the repo's config names.

Any writer may change a repo's Icechunk config, including the store of a virtual chunk container. Here a
writer declares a container whose URL prefix falls under the org's policy but whose store points at
another server (a recorder on loopback). A reader opening the repo must read the chunks from the bucket
the service authorized, and the recorder must never see a request, let alone credentials.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import icechunk
import numpy as np
import zarr

from arraylake import AsyncClient, Client
from arraylake.types import OrgRole
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService

VALUES = np.arange(8, dtype="f8")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str]

    def _record(self) -> None:
        # What reached it, and whether it was signed; never the credentials themselves (test output).
        self.seen.append(f"{self.command} {self.path} signed={'authorization' in self.headers}")
        self.send_response(403)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = _record

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that answers 403 to everything and records each request."""
    seen: list[str] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_container_credentials_never_reach_an_endpoint_the_repo_config_names(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    sources = seaweed.create_bucket(f"vsrc-{s3_bucket[4:]}")
    seaweed.s3().put_object(Bucket=sources, Key="files/data.bin", Body=VALUES.tobytes())
    org = service.new_org("vcc-endpoint", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="store", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="store")
    admin.create_bucket_config(org=org.name, nickname="sources", **seaweed.sts_bucket_config(sources))
    sources_id = str(admin.get_bucket_config(org=org.name, nickname="sources").id)
    granted = httpx.put(
        f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies",
        json={"bucket_id": sources_id, "subprefix": "files"},
        headers={"authorization": f"Bearer {org.token}"},
    )
    assert granted.status_code == 200
    url = f"s3://{sources}/files/"
    name = f"{org.name}/redirected"

    with recording_server() as (trap, seen):
        config = icechunk.RepositoryConfig.default()
        trap_store = icechunk.s3_store(
            region="us-east-1", endpoint_url=trap, allow_http=True, s3_compatible=True, force_path_style=True
        )
        config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(url, trap_store))
        session = admin.create_repo(name, config=config).writable_session("main")
        zarr.group(session.store).create_array(
            "v", shape=(8,), chunks=(8,), dtype="f8", compressors=None, fill_value=0
        )
        session.store.set_virtual_ref("v/c/0", f"{url}data.bin", offset=0, length=64)
        session.commit("a virtual reference, and a container store the writer chose")

        reader_token = admin.create_api_client(
            org.name, "reader", role=OrgRole.REPO_READER
        ).token.token.get_secret_value()
        reader = Client(org.url, token=reader_token)
        openings = {
            "sync": lambda: reader.get_repo(name),
            "async": lambda: asyncio.run(AsyncClient(org.url, token=reader_token).get_repo(name)),
            "by nickname": lambda: reader.get_repo(name, virtual_container_nicknames={url: "sources"}),
        }
        for how, open_repo in openings.items():
            try:
                group = zarr.open_group(open_repo().readonly_session("main").store, mode="r")
                np.testing.assert_array_equal(group["v"][:], VALUES, err_msg=how)
            finally:
                assert seen == [], f"{how}: the repo config's endpoint was contacted: {seen}"
