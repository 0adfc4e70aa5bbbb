"""The three OpenSSL settings ISO 15118-20 needs that Python 3.11's ``ssl`` does not expose,
called on the very ``SSL_CTX``/``SSL`` objects ``ssl`` made, through the ``libssl`` it
loaded (ctypes):

- the TLS 1.3 suites (``SSL_CTX_set_ciphersuites``): ``SSLContext.set_ciphers`` only sets
  the TLS 1.2 list, so without this a TLS 1.3 peer could get TLS_AES_128_GCM_SHA256, which
  -20 does not list ([V2G20-1856]);
- the key-exchange groups (``SSL_CTX_set1_groups_list``): ``set_ecdh_curve`` takes one
  curve for both versions, and -20 wants secp521r1 and x448 ([V2G20-1634]) while -2 EVs
  offer secp256r1 only;
- the protocol version of a handshake in progress (``SSL_version``): ``SSLObject.version()``
  answers None until the handshake is done, too late to choose the certificate chain.

Python's object layout is not an API, so every pointer is checked before use against what
``ssl`` itself reports (the context's options, the connection's context); a mismatch raises
``OpenSslUnavailable`` instead of touching memory that is not what we think. Python 3.15
has ``SSLContext.set_ciphersuites`` and ``set_groups``: use them then, and drop this.
"""

from __future__ import annotations

import ctypes
import ssl
from functools import cache

TLS1_3_VERSION = 0x0304
_SSL_CTRL_SET_GROUPS_LIST = 92  # SSL_CTX_set1_groups_list is a macro over SSL_CTX_ctrl
_HEAD = object.__basicsize__  # PyObject_HEAD: the C struct's first field comes after it
_PTR = ctypes.sizeof(ctypes.c_void_p)


class OpenSslUnavailable(RuntimeError):
    """This Python's ``ssl`` module is not laid out as expected, or libssl lacks a call."""


@cache
def _libssl() -> ctypes.CDLL:
    """The libssl the ``_ssl`` module is linked against (already mapped in: same copy)."""
    ssl.OPENSSL_VERSION  # noqa: B018 - make sure _ssl (and its libssl) is loaded
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/libssl.so" in line}
    if len(paths) != 1:
        raise OpenSslUnavailable(f"cannot tell which libssl Python uses: {sorted(paths)}")
    lib = ctypes.CDLL(paths.pop())
    for name, args, result in (
        ("SSL_CTX_get_options", [ctypes.c_void_p], ctypes.c_uint64),
        ("SSL_CTX_set_ciphersuites", [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
        ("SSL_CTX_ctrl", [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p],
         ctypes.c_long),
        ("SSL_ctrl", [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p],
         ctypes.c_long),
        ("SSL_get_SSL_CTX", [ctypes.c_void_p], ctypes.c_void_p),
        ("SSL_version", [ctypes.c_void_p], ctypes.c_int),
    ):  # fmt: skip
        fn = getattr(lib, name, None)
        if fn is None:
            raise OpenSslUnavailable(f"libssl has no {name} (OpenSSL 1.1.1 or later needed)")
        fn.argtypes, fn.restype = args, result
    return lib


def _context_pointer(ctx: ssl.SSLContext) -> int:
    """The SSL_CTX* of ``ctx`` (PySSLContext: PyObject_HEAD, then SSL_CTX *ctx)."""
    pointer = ctypes.c_void_p.from_address(id(ctx) + _HEAD).value
    if not pointer or _libssl().SSL_CTX_get_options(pointer) != int(ctx.options):
        raise OpenSslUnavailable("ssl.SSLContext is not laid out as expected")
    return pointer


def set_tls13_suites(ctx: ssl.SSLContext, suites: str) -> None:
    """Only ``suites`` (OpenSSL's colon list of TLS 1.3 names) for TLS 1.3 on ``ctx``."""
    if _libssl().SSL_CTX_set_ciphersuites(_context_pointer(ctx), suites.encode()) != 1:
        raise ValueError(f"OpenSSL refused the TLS 1.3 suites {suites!r}")
    got = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"]
    if got != suites.split(":"):  # what ssl reports back must be what we set
        raise OpenSslUnavailable(f"TLS 1.3 suites are {got} after setting {suites!r}")


def set_groups(ctx: ssl.SSLContext, groups: str) -> None:
    """The key-exchange groups of ``ctx``, both versions, in preference order
    ("P-521:X448:P-256")."""
    lib = _libssl()
    if lib.SSL_CTX_ctrl(_context_pointer(ctx), _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode()) != 1:
        raise ValueError(f"OpenSSL refused the groups {groups!r}")


def _connection_pointer(conn: ssl.SSLObject | ssl.SSLSocket) -> int:
    """The SSL* of ``conn`` (_ssl._SSLSocket: PyObject_HEAD, Socket, SSL *ssl)."""
    inner = conn._sslobj  # type: ignore[union-attr]
    pointer = ctypes.c_void_p.from_address(id(inner) + _HEAD + _PTR).value
    if not pointer or _libssl().SSL_get_SSL_CTX(pointer) != _context_pointer(conn.context):
        raise OpenSslUnavailable("ssl.SSLObject is not laid out as expected")
    return pointer


def handshake_version(conn: ssl.SSLObject | ssl.SSLSocket) -> int:
    """The protocol version (0x0303 TLS 1.2, 0x0304 TLS 1.3) a connection has chosen, also
    while its handshake runs (from the ClientHello on, e.g. in an SNI callback)."""
    return int(_libssl().SSL_version(_connection_pointer(conn)))


def set_connection_groups(conn: ssl.SSLObject | ssl.SSLSocket, groups: str) -> None:
    """The key-exchange groups of one connection, overriding its context's: from an SNI
    callback, before a TLS 1.2 server picks its ECDHE group."""
    pointer = _connection_pointer(conn)
    if _libssl().SSL_ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode()) != 1:
        raise ValueError(f"OpenSSL refused the groups {groups!r}")
