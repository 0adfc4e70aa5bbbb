"""`v2gate pki init`: a complete test/lab PKI in one folder.

  v2g_root -> v2g_sub1 -> v2g_sub2 -> secc       (CPO chain; secc_chain.pem for the SECC)
  mo_root  -> mo_sub1  -> mo_sub2  -> contract   (CN = the EMAID; contract_chain.pem)
  oem_root -> oem_sub1 -> oem_sub2 -> oem_prov   (provisioning; oem_prov_chain.pem)
  csms_root -> station, csms                     (OCPP security profile 3 mutual TLS)

Each NAME is NAME.pem (certificate) and NAME.key (private key, 0600). A chain file holds
the leaf, then Sub-CA 2, then Sub-CA 1: what a TLS server sends; the root stays out (the
peer has it). For a lab: nothing here is fit for production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from . import files
from .issue import Issued, issue, name
from .profiles import ROLES, Profile


@dataclass(frozen=True)
class Names:
    cpo: str = "v2gate Lab CPO"
    secc_id: str = "DE*V2G*E0000001"  # an EVSE ID, as -2 names the SECC
    emaid: str = "DEV2GC000000011"
    oem: str = "v2gate Lab OEM"
    station_serial: str = "V2GATE-CS-0001"  # OCPP: the station's serial number is the CN
    country: str = "DE"


# the files `init` writes, so a second run can say what it would overwrite
STEMS = ("v2g_root", "v2g_sub1", "v2g_sub2", "secc", "mo_root", "mo_sub1", "mo_sub2",
         "contract", "oem_root", "oem_sub1", "oem_sub2", "oem_prov", "csms_root", "station",
         "csms")  # fmt: skip
CHAINS = {"secc_chain": ("secc", "v2g_sub2", "v2g_sub1"),
          "contract_chain": ("contract", "mo_sub2", "mo_sub1"),
          "oem_prov_chain": ("oem_prov", "oem_sub2", "oem_sub1")}  # fmt: skip


def planned(directory: Path) -> list[Path]:
    return [directory / f"{s}.{ext}" for s in STEMS for ext in ("pem", "key")] + [
        directory / f"{c}.pem" for c in CHAINS
    ]


def build(profile: Profile, names: Names, now: dt.datetime) -> dict[str, Issued]:
    c = names.country
    out: dict[str, Issued] = {}

    def add(stem: str, role: str, subject: x509.Name, issuer: str | None,
            san: list[x509.GeneralName] | None = None) -> None:  # fmt: skip
        out[stem] = issue(subject, ROLES[role], profile.new_key(),
                          issuer=out[issuer] if issuer else None, now=now, san=san)  # fmt: skip

    add("v2g_root", "root", name("V2G Root CA (lab)", "v2gate Lab V2G", c, "V2G"), None)
    add("v2g_sub1", "sub1", name("CPO Sub-CA 1", names.cpo, c, "V2G"), "v2g_root")
    add("v2g_sub2", "sub2", name("CPO Sub-CA 2", names.cpo, c, "V2G"), "v2g_sub1")
    add("secc", "secc", name(names.secc_id, names.cpo, c, "CPO"), "v2g_sub2")
    add("mo_root", "root", name("MO Root CA (lab)", "v2gate Lab MO", c, "MO"), None)
    add("mo_sub1", "sub1", name("MO Sub-CA 1", "v2gate Lab MO", c, "MO"), "mo_root")
    add("mo_sub2", "sub2", name("MO Sub-CA 2", "v2gate Lab MO", c, "MO"), "mo_sub1")
    add("contract", "contract", name(names.emaid, "v2gate Lab MO", c, "MO"), "mo_sub2")
    add("oem_root", "root", name("OEM Root CA (lab)", names.oem, c, "OEM"), None)
    add("oem_sub1", "sub1", name("OEM Sub-CA 1", names.oem, c, "OEM"), "oem_root")
    add("oem_sub2", "sub2", name("OEM Sub-CA 2", names.oem, c, "OEM"), "oem_sub1")
    add("oem_prov", "oem-prov", name("OEM Prov (lab)", names.oem, c, "OEM"), "oem_sub2")
    add("csms_root", "root", name("CSMS Root CA (lab)", names.cpo, c), None)
    add("station", "station", name(names.station_serial, names.cpo, c), "csms_root")
    add("csms", "csms", name("localhost", names.cpo, c), "csms_root",
        san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    return out


def init(directory: Path, profile: Profile, names: Names, now: dt.datetime) -> dict[str, Issued]:
    made = build(profile, names, now)
    directory.mkdir(parents=True, exist_ok=True)
    for stem, item in made.items():
        assert item.key is not None
        files.write_key(directory / f"{stem}.key", item.key)
        files.write_certs(directory / f"{stem}.pem", item.cert)
    for chain, stems in CHAINS.items():
        files.write_certs(directory / f"{chain}.pem", *(made[s].cert for s in stems))
    return made
