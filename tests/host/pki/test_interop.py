"""The lab PKI as others see it: Python's ssl (OpenSSL underneath) in a real TLS handshake
on loopback, and `openssl verify` in strict X.509 mode."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from host.v2g import tls

pytestmark = pytest.mark.system


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[dict, str, str]:  # type: ignore[type-arg]
    """Server and client on a loopback socket pair; returns what the client saw."""
    a, b = socket.socketpair()
    a.settimeout(20)
    b.settimeout(20)
    failed: list[BaseException] = []

    def serve() -> None:
        try:
            with server.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as exc:
            failed.append(exc)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client.wrap_socket(b, server_hostname=None) as c:
            peer, cipher, version = c.getpeercert(), c.cipher(), c.version()
            c.sendall(b"x")
    finally:
        t.join(20)
    assert not failed, failed
    assert peer is not None and cipher is not None and version is not None
    return peer, cipher[0], version


def strict(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


@pytest.mark.parametrize(("profile", "tls13"), [("iso2", False), ("iso20", True),
                                                ("iso20-ed448", True)])  # fmt: skip
def test_secc_chain_passes_a_tls_handshake_against_the_v2g_root(
        made: Callable[[str], Path], profile: str, tls13: bool) -> None:  # fmt: skip
    d = made(profile)
    server = tls.server_context(d / "secc_chain.pem", d / "secc.key", tls13=tls13)
    client = strict(tls.client_context(d / "v2g_root.pem", tls13=tls13))
    peer, cipher, version = handshake(server, client)
    assert dict(x[0] for x in peer["subject"])["commonName"] == "DE*V2G*E0000001"
    if tls13:
        assert version == "TLSv1.3"
    else:  # the ISO 15118-2 Table 7 suite on the secp256r1 certificate
        assert (version, cipher) == ("TLSv1.2", "ECDHE-ECDSA-AES128-SHA256")


def test_a_client_trusting_another_root_refuses_the_secc(lab: Path) -> None:
    """The handshake above proves something: with the MO root as trust anchor it fails."""
    server = tls.server_context(lab / "secc_chain.pem", lab / "secc.key", tls13=False)
    client = tls.client_context(lab / "mo_root.pem")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(server, client)


def test_station_certificate_passes_ocpp_profile_3_mutual_tls(lab: Path) -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(lab / "csms.pem", lab / "csms.key")
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(lab / "csms_root.pem")
    client = strict(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    client.load_verify_locations(lab / "csms_root.pem")
    client.load_cert_chain(lab / "station.pem", lab / "station.key")
    a, b = socket.socketpair()
    seen: list[object] = []

    def serve() -> None:
        with server.wrap_socket(a, server_side=True) as s:
            seen.append(s.getpeercert())
            s.recv(1)

    t = threading.Thread(target=serve)
    t.start()
    with client.wrap_socket(b, server_hostname="localhost") as c:  # the CSMS's SAN is checked
        c.sendall(b"x")
    t.join(20)
    subject = dict(x[0] for x in seen[0]["subject"])  # type: ignore[index]
    assert subject == {"commonName": "V2GATE-CS-0001", "organizationName": "v2gate Lab CPO",
                       "countryName": "DE"}  # fmt: skip


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("openssl")
    if exe is None:
        print("no openssl on this machine")
        pytest.skip("no openssl on this machine")
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=30)


LEAVES = [("v2g", "secc", "sslserver"), ("mo", "contract", "any"), ("oem", "oem_prov", "any")]


@pytest.mark.parametrize("profile", ["iso2", "iso20", "iso20-ed448"])
def test_openssl_verify_accepts_every_chain(made: Callable[[str], Path], profile: str) -> None:
    d = made(profile)
    for tag, leaf, purpose in LEAVES:
        r = openssl("verify", "-x509_strict", "-purpose", purpose, "-CAfile", d / f"{tag}_root.pem",
                    "-untrusted", d / f"{tag}_sub1.pem", "-untrusted", d / f"{tag}_sub2.pem",
                    d / f"{leaf}.pem")  # fmt: skip
        assert r.returncode == 0 and r.stdout.strip() == f"{d / leaf}.pem: OK", r.stderr
    for leaf, purpose in (("station", "sslclient"), ("csms", "sslserver")):
        r = openssl("verify", "-x509_strict", "-purpose", purpose, "-CAfile", d / "csms_root.pem",
                    d / f"{leaf}.pem")  # fmt: skip
        assert r.returncode == 0, r.stderr


def test_openssl_verify_refuses_a_chain_under_the_wrong_root(lab: Path) -> None:
    r = openssl("verify", "-CAfile", lab / "oem_root.pem", "-untrusted", lab / "v2g_sub1.pem",
                "-untrusted", lab / "v2g_sub2.pem", lab / "secc.pem")  # fmt: skip
    assert r.returncode != 0 and "unable to get local issuer certificate" in r.stdout + r.stderr


def test_openssl_reads_the_extensions_iso15118_2_asks_for(lab: Path) -> None:
    def text(name: str) -> str:
        return openssl("x509", "-noout", "-text", "-in", lab / name).stdout

    leaf, sub2, root = text("secc.pem"), text("v2g_sub2.pem"), text("v2g_root.pem")
    assert "ecdsa-with-SHA256" in leaf and "prime256v1" in leaf
    assert "X509v3 Basic Constraints: critical\n                CA:FALSE" in leaf
    assert "X509v3 Key Usage: critical\n                Digital Signature, Key Agreement" in leaf
    assert "CA:TRUE, pathlen:0" in sub2 and "Certificate Sign, CRL Sign" in sub2
    assert "CA:TRUE\n" in root and "pathlen" not in root
    assert x509.load_pem_x509_certificate((lab / "secc.pem").read_bytes()).version == x509.Version.v3
