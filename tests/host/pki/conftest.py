"""One lab PKI per profile per test run (made by `v2gate pki init` in-process), copied
for the tests that damage it; and `v2gate(...)` in-process with its exit code and output."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from host.cli import main


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


Run = Callable[..., Ran]


@pytest.fixture
def v2gate(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str | Path) -> Ran:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's usage errors leave through here
            code = int(exc.code or 0)
        got = capsys.readouterr()
        return Ran(code, got.out, got.err)

    return run


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The PKI of a profile, made on first use and shared: do not change it."""
    cache: dict[str, Path] = {}

    def get(profile: str) -> Path:
        if profile not in cache:
            d = tmp_path_factory.mktemp(profile) / "pki"
            assert main(["pki", "init", str(d), "--profile", profile]) == 0
            cache[profile] = d
        return cache[profile]

    return get


@pytest.fixture
def lab(made: Callable[[str], Path]) -> Path:
    return made("iso2")


@pytest.fixture
def own_lab(lab: Path, tmp_path: Path) -> Path:
    """A copy of the iso2 PKI this test may damage (modes kept)."""
    return Path(shutil.copytree(lab, tmp_path / "pki"))
