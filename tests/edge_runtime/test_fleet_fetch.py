"""Fetching a desired bundle: a shared path, or HTTP that resumes an interrupted download with Range."""

from __future__ import annotations

import hashlib

import pytest
from fleet_helpers import RangeServer

from edge_runtime.errors import BundleError
from edge_runtime.fleet.fetch import FetchError, fetch

PAYLOAD = bytes(range(256)) * 2048  # 512 KiB


@pytest.fixture
def server():
    started = []

    def start(**options: object) -> RangeServer:
        started.append(RangeServer(PAYLOAD, **options))
        return started[-1]

    yield start
    for each in started:
        each.close()


def test_an_interrupted_download_resumes_where_it_stopped(server, tmp_path):
    http = server()
    http.cuts = {0: 200_000}
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(FetchError, match="interrupted at byte 200000"):
        fetch(http.url, tmp_path, timeout_s=5, expect_sha256=digest)
    done = fetch(http.url, tmp_path, timeout_s=5, expect_sha256=digest)
    assert done.read_bytes() == PAYLOAD
    assert http.requests == [None, "bytes=200000-"]  # the second request asked only for the rest


def test_a_server_that_ignores_range_sends_it_all_again(server, tmp_path):
    http = server(ranges=False)
    http.cuts = {0: 100_000}
    with pytest.raises(FetchError):
        fetch(http.url, tmp_path, timeout_s=5)
    assert fetch(http.url, tmp_path, timeout_s=5).read_bytes() == PAYLOAD


def test_an_archive_that_is_not_the_published_one_is_refused_and_not_kept(server, tmp_path):
    http = server()
    with pytest.raises(BundleError, match="is not the published"):
        fetch(http.url, tmp_path, timeout_s=5, expect_sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_and_missing_shared_path_are_worth_retrying(tmp_path):
    with pytest.raises(FetchError):
        fetch("http://127.0.0.1:9/bundle.tar.gz", tmp_path, timeout_s=2)
    with pytest.raises(FetchError, match="not found on the shared volume"):
        fetch(str(tmp_path / "nowhere"), tmp_path, timeout_s=2)
    shared = tmp_path / "shared.tar.gz"
    shared.write_bytes(PAYLOAD)
    assert fetch(f"file://{shared}", tmp_path / "staging", timeout_s=2) == shared  # read in place
