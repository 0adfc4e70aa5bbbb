"""What the -20 CertificateInstallation tests share: one in-memory `pki init --profile iso20`
hierarchy per test process (secp521r1, SHA-512) and a LocalCps over it."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from host.ev.evcc.install20 import EvInstall20
from host.pki import hierarchy
from host.pki.issue import Issued
from host.pki.profiles import PROFILES
from host.secc.backend import LocalCps
from host.secc.certs import ContractChain
from host.secc.iso20_install import InstallConfig
from host.secc.keywrap20 import pcid_of

NEW_EMAID = "DEV2GC000000042"  # what the local CPS issues for the lab OEM certificate
NOW = dt.datetime.now(dt.UTC)


@functools.cache
def pki20() -> dict[str, Issued]:
    return hierarchy.build(PROFILES["iso20"], hierarchy.Names(), NOW)


def oem_pcid() -> str:
    return pcid_of(pki20()["oem_prov"].cert)


def local_cps20(**kw: Any) -> LocalCps:
    p = pki20()
    kw.setdefault("contracts", {oem_pcid(): NEW_EMAID})
    return LocalCps(v2g_root=p["v2g_root"], mo_sub2=p["mo_sub2"], mo_sub1=p["mo_sub1"].cert,
                    **kw)  # fmt: skip


def install_config(**cps: Any) -> InstallConfig:
    return InstallConfig(oem_roots=[pki20()["oem_root"].cert], backend=local_cps20(**cps))


def ev_install(**kw: Any) -> EvInstall20:
    """The EV's OEM provisioning chain and key and its V2G root, no contract."""
    p = pki20()
    chain = ContractChain(p["oem_prov"].cert, (p["oem_sub2"].cert, p["oem_sub1"].cert))
    return EvInstall20(chain, p["oem_prov"].key, [p["v2g_root"].cert], **kw)  # type: ignore[arg-type]
