"""TLS contexts for the SECC and the EVCC, one port for ISO 15118-2 and ISO 15118-20.

TLS 1.2 (-2 §7.7.3: [V2G2-067], the SECC is the server [V2G2-068]) with the Table 7 suites
([V2G2-602]) for the -2 chain V2G root -> CPO Sub-CA 1 -> Sub-CA 2 -> SECC leaf; no client
certificate in -2.

TLS 1.3 (-20 §7.7.3: [V2G20-1264]) on the same port, with only the suites -20 lists,
TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 ([V2G20-1856] SECC, [V2G20-2459]
EVCC), and the groups of -20 Table 7, secp521r1 then x448 ([V2G20-1634], [V2G20-2674],
[V2G20-2319]). OpenSSL has one groups list for both versions, so secp256r1 stays last in it:
the -2 EVs need it for TLS 1.2, and the `iso15118` package's EVCC offers nothing else over
TLS 1.3 either (its `shared/security.py` calls set_ecdh_curve("prime256v1")). A TLS 1.2
connection is narrowed to secp256r1 alone from the ClientHello callback ([V2G2-006]), so an
EV that offers P-521 too still gets the -2 curve.

-20 certificates are secp521r1 or Ed448 (`v2gate pki init --profile iso20|iso20-ed448`), -2
ones secp256r1: OpenSSL keeps one ECDSA chain per context, so with a ``tls13_chain`` the
context switches a TLS 1.3 handshake to a second context holding it, from the ClientHello
callback (host.v2g.openssl.handshake_version tells the version there).

Mutual TLS for -20 Plug & Charge ([V2G20-2400]: the SECC requests the EVCC's certificate):
with ``client_roots`` (the OEM roots, and the V2G root -20 also allows, [V2G20-2331]) the
SECC asks every client for a certificate; one that does not chain to those roots ends the
handshake; a client that sends none (every -2 EV) carries on without (the session sees
``peer_certificate`` None and can offer EIM only).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import constants as c
from . import openssl
from .errors import ConfigError

TLS13_SUITES = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"  # [V2G20-1856] order
TLS13_GROUPS = "P-521:X448:P-256"  # -20 Table 7 first; P-256 for -2 (see above)
_DER = 2  # _ssl.ENCODING_DER, for the chain Python 3.11 only gives privately


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What the handshake settled, for the session: -20 checks the version
    ([V2G20-2356]) and takes the vehicle certificate for PnC."""

    version: str  # "TLSv1.2", "TLSv1.3"
    cipher: str
    peer_certificate: bytes | None = None  # the client's leaf, DER, verified; None: none sent
    peer_chain: tuple[bytes, ...] = ()  # leaf first, up to the root it was verified against

    @property
    def tls13(self) -> bool:
        return self.version not in ("TLSv1", "TLSv1.1", "TLSv1.2", "SSLv3")


def tls_info(conn: ssl.SSLObject | ssl.SSLSocket) -> TlsInfo:
    """Read from a connection whose handshake is done."""
    leaf = conn.getpeercert(binary_form=True)
    chain: tuple[bytes, ...] = ()
    getter = getattr(conn._sslobj, "get_verified_chain", None)  # type: ignore[union-attr]
    if leaf and getter is not None:
        chain = tuple(cert.public_bytes(_DER) for cert in getter() or ())
    cipher = conn.cipher()
    return TlsInfo(conn.version() or "", cipher[0] if cipher else "", leaf or None, chain)


def _iso20_tls13(ctx: ssl.SSLContext) -> None:
    try:
        openssl.set_tls13_suites(ctx, TLS13_SUITES)
        openssl.set_groups(ctx, TLS13_GROUPS)
    except openssl.OpenSslUnavailable as exc:
        raise ConfigError(f"TLS 1.3 as ISO 15118-20 wants it cannot be set up here ({exc}): "
                          "serve TLS 1.2 only") from exc  # fmt: skip


def _load_chain(ctx: ssl.SSLContext, chain: Path | str, key: Path | str,
                password: bytes | None) -> None:  # fmt: skip
    try:
        ctx.load_cert_chain(str(chain), str(key), password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the SECC chain {chain} / key {key}: {exc}") from exc


def _load_roots(ctx: ssl.SSLContext, roots: Sequence[Path | str]) -> None:
    for root in roots:
        try:
            ctx.load_verify_locations(str(root))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the root {root}: {exc}") from exc


def server_context(chain: Path | str, key: Path | str, *, tls13: bool = True,
                   password: bytes | None = None, tls13_chain: Path | str | None = None,
                   tls13_key: Path | str | None = None,
                   client_roots: Sequence[Path | str] = ()) -> ssl.SSLContext:  # fmt: skip
    """``chain``: PEM with the SECC leaf first, then Sub-CA 2 and Sub-CA 1 (the root stays
    out: the EV has it); it serves TLS 1.2, and TLS 1.3 too unless ``tls13_chain`` (the
    -20 chain, with ``tls13_key``) is given. ``tls13`` False: TLS 1.2 only."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if tls13 else ssl.TLSVersion.TLSv1_2
    # OpenSSL skips suite names it does not know (the static-ECDH one), as long as one is left
    ctx.set_ciphers(c.TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls13:
        _iso20_tls13(ctx)
    else:
        ctx.set_ecdh_curve(c.TLS_CURVE)  # secp256r1 only, [V2G2-006]
    _load_chain(ctx, chain, key, password)
    ctx.verify_mode = ssl.CERT_OPTIONAL if client_roots else ssl.CERT_NONE
    _load_roots(ctx, client_roots)
    ctx20: ssl.SSLContext | None = None
    if tls13 and tls13_chain is not None:
        ctx20 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _load_chain(ctx20, tls13_chain, tls13_key or tls13_chain, password)
        # the client certificate is verified against the store of the context in use then
        _load_roots(ctx20, client_roots)
    if tls13:

        def per_version(conn: ssl.SSLObject | ssl.SSLSocket, _name: str | None,
                        _ctx: ssl.SSLContext) -> None:  # fmt: skip
            # the version is chosen before this callback runs, the certificate and a TLS 1.2
            # ECDHE group after it; suites and verify mode stay those of ``ctx``
            if openssl.handshake_version(conn) < openssl.TLS1_3_VERSION:
                openssl.set_connection_groups(conn, c.TLS_CURVE)  # -2: [V2G2-006]
            elif ctx20 is not None:
                conn.context = ctx20

        ctx.sni_callback = per_version  # called for every ClientHello, SNI or not
    return ctx


def client_context(v2g_root: Path | str, *, tls13: bool = False,
                   cert_chain: Path | str | None = None, key: Path | str | None = None,
                   ) -> ssl.SSLContext:  # fmt: skip
    """The EV side: trusts the V2G root only. TLS 1.2 with the -2 suite on secp256r1, or,
    with ``tls13``, TLS 1.3 with the -20 suites and groups ([V2G20-2459]) falling back to
    that. ``cert_chain``/``key``: the vehicle certificate for -20 mutual TLS. The SECC
    leaf names a SECC, not a host name, so host names are not checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if tls13 else ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(c.TLS12_CIPHERS)
    if tls13:
        _iso20_tls13(ctx)
    else:
        ctx.set_ecdh_curve(c.TLS_CURVE)
    _load_roots(ctx, [v2g_root])
    if cert_chain is not None:
        _load_chain(ctx, cert_chain, key or cert_chain, None)
    return ctx


def lab_keylog(ctx: ssl.SSLContext, path: Path | str) -> ssl.SSLContext:
    """Lab mode only: append this context's session secrets to `path` in the
    SSLKEYLOGFILE format, so that `v2gate decode --pcap CAPTURE --keylog path` can
    decrypt what tcpdump recorded. Whoever has the file can read every session: never
    on a station in the field. The file is made 0600 (ssl opens it with fopen(): 0644
    under the usual umask), an existing one tightened before secrets go into it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"cannot make the keylog {path}: {exc.strerror}") from None
    ctx.keylog_filename = str(path)
    return ctx
