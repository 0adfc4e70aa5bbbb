"""TLS contexts for ISO 15118-2 (§7.7.3): TLS 1.2 ([V2G2-067]), the SECC as the server
([V2G2-068]) with its chain V2G root -> CPO Sub-CA 1 -> CPO Sub-CA 2 -> SECC leaf, the
Table 7 suites ([V2G2-602]) on secp256r1, no client certificate (-2 has no mutual TLS).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from . import constants as c
from .errors import ConfigError


def server_context(chain: Path | str, key: Path | str, *, tls13: bool = True,
                   password: bytes | None = None) -> ssl.SSLContext:  # fmt: skip
    """``chain``: PEM with the SECC leaf first, then Sub-CA 2 and Sub-CA 1 (the root stays
    out: the EV has it). ``tls13`` lets the same port serve TLS 1.3 (ISO 15118-20)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if tls13 else ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_NONE
    # OpenSSL skips suite names it does not know (the static-ECDH one), as long as one is left
    ctx.set_ciphers(c.TLS12_CIPHERS)
    # secp256r1 only, for -2 ([V2G2-006]). ISO 15118-20 wants secp521r1 / x448 for TLS 1.3,
    # which needs a groups list Python's ssl does not expose: the -20 issue's problem.
    ctx.set_ecdh_curve(c.TLS_CURVE)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.load_cert_chain(str(chain), str(key), password)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the SECC chain {chain} / key {key}: {exc}") from exc
    return ctx


def client_context(v2g_root: Path | str, *, tls13: bool = False) -> ssl.SSLContext:
    """The EV side: trusts the V2G root only; TLS 1.2 with the -2 suite unless ``tls13``.
    The SECC leaf names a SECC, not a host name, so host names are not checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3 if tls13 else ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(c.TLS12_CIPHERS)
    ctx.set_ecdh_curve(c.TLS_CURVE)
    try:
        ctx.load_verify_locations(str(v2g_root))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the V2G root {v2g_root}: {exc}") from exc
    return ctx


def lab_keylog(ctx: ssl.SSLContext, path: Path | str) -> ssl.SSLContext:
    """Lab mode only: append this context's session secrets to `path` in the
    SSLKEYLOGFILE format, so that `v2gate decode --pcap CAPTURE --keylog path` can
    decrypt what tcpdump recorded. Whoever has the file can read every session: never
    on a station in the field."""
    ctx.keylog_filename = str(path)
    return ctx
