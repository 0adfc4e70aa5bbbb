"""The reference codec (EXICodec.jar in the `iso15118` package) as a session-wide peer."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tools.exi_peer.venv import JarPeer


@pytest.fixture(scope="session")
def jar() -> Iterator[JarPeer]:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: cannot run the reference EXI codec (EXICodec.jar)")
    peer = JarPeer()  # builds the cached peer virtualenv on first use
    print(f"\nreference EXI codec: EXICodec.jar {peer.version} from iso15118 (py4j)")
    yield peer
    peer.close()
