"""TLS streams of a capture, decrypted with the secrets of an SSLKEYLOGFILE.

Sans-I/O: `TlsStream.receive(sender_is_client, data)` takes the TCP bytes of either
direction and returns the application data they carry, once the keys are known.
ISO 15118-2 uses TLS 1.2 with ECDHE-ECDSA-AES128-SHA256 (CBC + HMAC, [V2G2-602]);
ISO 15118-20 TLS 1.3. Supported:

  TLS 1.2  AES-128/256-CBC with HMAC-SHA256/384 (encrypt-then-MAC too, RFC 7366),
           AES-128/256-GCM  (keys from CLIENT_RANDOM: RFC 5246 §6.3 with its PRF)
  TLS 1.3  AES-128/256-GCM, CHACHA20-POLY1305 (RFC 8446 §7.1-7.3 key schedule)

The keylog format is NSS's (what Python's `ssl` writes through
SSLContext.keylog_filename).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, FINISHED = 1, 2, 20
EXT_ENCRYPT_THEN_MAC, EXT_SUPPORTED_VERSIONS = 0x16, 0x2B
# the random of a ServerHello that is a HelloRetryRequest (RFC 8446 §4.1.3)
HELLO_RETRY_REQUEST = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


@dataclass(frozen=True)
class Suite:
    name: str
    kind: str  # cbc, gcm, chacha (TLS 1.3 uses gcm / chacha)
    key_len: int
    mac: str  # hash of the HMAC (CBC), of the PRF / HKDF otherwise
    tls13: bool = False


SUITES = {
    0xC023: Suite("ECDHE-ECDSA-AES128-SHA256", "cbc", 16, "sha256"),
    0xC024: Suite("ECDHE-ECDSA-AES256-SHA384", "cbc", 32, "sha384"),
    0xC027: Suite("ECDHE-RSA-AES128-SHA256", "cbc", 16, "sha256"),
    0xC02B: Suite("ECDHE-ECDSA-AES128-GCM-SHA256", "gcm", 16, "sha256"),
    0xC02C: Suite("ECDHE-ECDSA-AES256-GCM-SHA384", "gcm", 32, "sha384"),
    0xC02F: Suite("ECDHE-RSA-AES128-GCM-SHA256", "gcm", 16, "sha256"),
    0x1301: Suite("TLS_AES_128_GCM_SHA256", "gcm", 16, "sha256", True),
    0x1302: Suite("TLS_AES_256_GCM_SHA384", "gcm", 32, "sha384", True),
    0x1303: Suite("TLS_CHACHA20_POLY1305_SHA256", "chacha", 32, "sha256", True),
}
SUPPORTED = ("TLS 1.2: " + ", ".join(s.name for s in SUITES.values() if not s.tls13)
             + "; TLS 1.3: " + ", ".join(s.name for s in SUITES.values() if s.tls13))


class TlsError(ValueError):
    """The stream cannot be decrypted; the text says why (suite, keys, a bad record)."""


def read_keylog(path: Path) -> dict[tuple[str, bytes], bytes]:
    """(label, client random) -> secret, from an SSLKEYLOGFILE."""
    keys: dict[tuple[str, bytes], bytes] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if not words or line.startswith("#"):
            continue
        try:
            label, random, secret = words
            keys[(label, bytes.fromhex(random))] = bytes.fromhex(secret)
        except ValueError:
            raise TlsError(f"{path}:{n}: not an SSLKEYLOGFILE line (LABEL CLIENT_RANDOM SECRET)") from None
    return keys


def _hash(name: str) -> hashes.HashAlgorithm:
    return hashes.SHA384() if name == "sha384" else hashes.SHA256()


def prf(secret: bytes, label: bytes, seed: bytes, size: int, digest: str) -> bytes:
    """The TLS 1.2 PRF, P_hash (RFC 5246 §5)."""
    out, a = b"", label + seed
    while len(out) < size:
        a = hmac.new(secret, a, digest).digest()
        out += hmac.new(secret, a + label + seed, digest).digest()
    return out[:size]


def expand_label(secret: bytes, label: str, size: int, digest: str) -> bytes:
    """HKDF-Expand-Label with an empty context (RFC 8446 §7.1)."""
    full = b"tls13 " + label.encode()
    info = struct.pack(">HB", size, len(full)) + full + b"\x00"
    return HKDFExpand(_hash(digest), size, info).derive(secret)


class _Keys:
    """One direction's record protection."""

    def __init__(self, suite: Suite, key: bytes, iv: bytes, mac_key: bytes = b"", etm: bool = False) -> None:
        self.suite = suite
        self.key = key
        self.iv = iv
        self.mac_key = mac_key
        self.etm = etm
        self.seq = 0

    def open(self, ctype: int, version: bytes, body: bytes) -> tuple[int, bytes]:
        """(inner content type, plaintext) of one record; TlsError if it does not open."""
        s = self.suite
        seq = struct.pack(">Q", self.seq)
        self.seq += 1
        try:
            if s.tls13:
                nonce = bytes(a ^ b for a, b in zip(self.iv, bytes(4) + seq, strict=True))
                aead = AESGCM(self.key) if s.kind == "gcm" else ChaCha20Poly1305(self.key)
                header = bytes([ctype]) + version + struct.pack(">H", len(body))
                inner = aead.decrypt(nonce, body, header).rstrip(b"\x00")
                if not inner:
                    raise TlsError("a TLS 1.3 record with no content type")
                return inner[-1], inner[:-1]
            if s.kind == "gcm":
                if len(body) < 24:  # explicit nonce (8) and tag (16) at least
                    raise TlsError(f"record {self.seq - 1}: {len(body)} bytes, too short for GCM")
                nonce = self.iv + body[:8]
                aad = seq + bytes([ctype]) + version + struct.pack(">H", len(body) - 24)
                return ctype, AESGCM(self.key).decrypt(nonce, body[8:], aad)
        except InvalidTag:
            raise TlsError(f"record {self.seq - 1} does not decrypt: the keylog is not this session's") from None
        return ctype, self._cbc(ctype, version, body, seq)

    def _cbc(self, ctype: int, version: bytes, body: bytes, seq: bytes) -> bytes:
        mac_len = hashlib.new(self.suite.mac).digest_size
        if self.etm:  # RFC 7366: the MAC covers IV + ciphertext
            body, tag = body[:-mac_len], body[-mac_len:]
            signed = seq + bytes([ctype]) + version + struct.pack(">H", len(body)) + body
            if not hmac.compare_digest(hmac.new(self.mac_key, signed, self.suite.mac).digest(), tag):
                raise TlsError(f"record {self.seq - 1}: bad MAC, the keylog is not this session's")
        if len(body) < 32 or len(body) % 16:
            raise TlsError(f"record {self.seq - 1}: {len(body)} bytes is not an IV and whole blocks")
        d = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()
        plain = d.update(body[16:]) + d.finalize()
        pad = plain[-1] + 1
        if pad > len(plain) or plain[-pad:] != bytes([pad - 1]) * pad:
            raise TlsError(f"record {self.seq - 1}: bad padding, the keylog is not this session's")
        plain = plain[:-pad]
        if self.etm:
            return plain
        plain, tag = plain[:-mac_len], plain[-mac_len:]
        signed = seq + bytes([ctype]) + version + struct.pack(">H", len(plain)) + plain
        if not hmac.compare_digest(hmac.new(self.mac_key, signed, self.suite.mac).digest(), tag):
            raise TlsError(f"record {self.seq - 1}: bad MAC, the keylog is not this session's")
        return plain


class TlsStream:
    """Both directions of one TLS connection."""

    def __init__(self, keylog: dict[tuple[str, bytes], bytes] | None) -> None:
        self.keylog = keylog
        self.client_random = b""
        self.server_random = b""
        self.suite: Suite | None = None
        self.suite_id = 0
        self.version = "TLS"
        self.etm = False
        self.records = 0
        self._buf = {True: bytearray(), False: bytearray()}
        self._hs = {True: bytearray(), False: bytearray()}  # plaintext handshake bytes
        self._keys: dict[bool, _Keys | None] = {True: None, False: None}
        self._pending12: dict[bool, _Keys] = {}  # TLS 1.2: after ChangeCipherSpec

    def describe(self) -> str:
        if self.suite is None:
            return f"{self.version}, suite {self.suite_id:#06x}" if self.suite_id else self.version
        return f"{self.version} {self.suite.name}"

    def receive(self, from_client: bool, data: bytes) -> list[bytes]:
        """Application data in these bytes (none without a keylog). TlsError when the
        stream cannot be decrypted."""
        buf = self._buf[from_client]
        buf += data
        out: list[bytes] = []
        while len(buf) >= 5:
            ctype, version, length = buf[0], bytes(buf[1:3]), int.from_bytes(buf[3:5], "big")
            if len(buf) < 5 + length:
                break
            body = bytes(buf[5:5 + length])
            del buf[:5 + length]
            self.records += 1
            out += self._record(from_client, ctype, version, body)
        return out

    def _record(self, from_client: bool, ctype: int, version: bytes, body: bytes) -> list[bytes]:
        keys = self._keys[from_client]
        if ctype == CHANGE_CIPHER_SPEC:
            if self.suite is not None and not self.suite.tls13 and from_client in self._pending12:
                self._keys[from_client] = self._pending12.pop(from_client)
            return []
        if keys is not None:
            ctype, body = keys.open(ctype, version, body)
        elif ctype == APPLICATION_DATA:
            if self.keylog is not None and self.suite is not None:
                self._need(from_client)
            return []  # encrypted, no keys: listed, not decrypted
        if ctype == HANDSHAKE:
            self._handshake(from_client, body)
            return []
        return [body] if ctype == APPLICATION_DATA else []

    def _need(self, from_client: bool) -> None:
        raise TlsError(f"no keys for this {self.describe()} session in the keylog "
                       f"(CLIENT_RANDOM {self.client_random.hex()[:16]}...)")

    def _handshake(self, from_client: bool, data: bytes) -> None:
        hs = self._hs[from_client]
        hs += data
        while len(hs) >= 4:
            kind, size = hs[0], int.from_bytes(hs[1:4], "big")
            if len(hs) < 4 + size:
                return
            msg = bytes(hs[4:4 + size])
            del hs[:4 + size]
            if kind == CLIENT_HELLO and len(msg) >= 34:
                self.client_random = msg[2:34]
            elif kind == SERVER_HELLO:
                self._server_hello(msg)
            elif kind == FINISHED and self.suite is not None and self.suite.tls13:
                self._keys[from_client] = self._tls13_keys(from_client, "TRAFFIC_SECRET_0")

    def _server_hello(self, msg: bytes) -> None:
        # version, random, session id (length first), suite, compression method
        if len(msg) < 35 or len(msg) < 35 + msg[34] + 3:
            raise TlsError(f"a ServerHello of {len(msg)} bytes, cut short before its suite")
        self.server_random = msg[2:34]
        sid_len = msg[34]
        pos = 35 + sid_len
        self.suite_id = int.from_bytes(msg[pos:pos + 2], "big")
        self.version = "TLS 1.2"
        ext = pos + 3
        if len(msg) >= ext + 2:
            end = ext + 2 + int.from_bytes(msg[ext:ext + 2], "big")
            p = ext + 2
            while p + 4 <= end:
                etype, elen = int.from_bytes(msg[p:p + 2], "big"), int.from_bytes(msg[p + 2:p + 4], "big")
                if etype == EXT_ENCRYPT_THEN_MAC:
                    self.etm = True
                elif etype == EXT_SUPPORTED_VERSIONS and msg[p + 4:p + 6] == b"\x03\x04":
                    self.version = "TLS 1.3"
                p += 4 + elen
        self.suite = SUITES.get(self.suite_id)
        if self.keylog is None or self.server_random == HELLO_RETRY_REQUEST:
            return  # a HelloRetryRequest: the EV's second ClientHello is plaintext too
        if self.suite is None:
            raise TlsError(f"{self.version} suite {self.suite_id:#06x} is not supported for decryption "
                           f"(supported: {SUPPORTED})")
        if self.suite.tls13:
            self._keys[True] = self._tls13_keys(True, "HANDSHAKE_TRAFFIC_SECRET")
            self._keys[False] = self._tls13_keys(False, "HANDSHAKE_TRAFFIC_SECRET")
        else:
            self._tls12_keys()

    def _secret(self, label: str) -> bytes:
        assert self.keylog is not None
        secret = self.keylog.get((label, self.client_random))
        if secret is None:
            raise TlsError(f"the keylog has no {label} for this {self.describe()} session "
                           f"(client random {self.client_random.hex()[:16]}...)")
        return secret

    def _tls13_keys(self, client: bool, which: str) -> _Keys:
        s = self.suite
        assert s is not None
        secret = self._secret(("CLIENT_" if client else "SERVER_") + which)
        return _Keys(s, expand_label(secret, "key", s.key_len, s.mac), expand_label(secret, "iv", 12, s.mac))

    def _tls12_keys(self) -> None:
        s = self.suite
        assert s is not None
        master = self._secret("CLIENT_RANDOM")
        mac_len = hashlib.new(s.mac).digest_size if s.kind == "cbc" else 0
        iv_len = 4 if s.kind == "gcm" else 0
        block = prf(master, b"key expansion", self.server_random + self.client_random,
                    2 * (mac_len + s.key_len + iv_len), s.mac)
        parts = []
        for size in (mac_len, mac_len, s.key_len, s.key_len, iv_len, iv_len):
            parts.append(block[:size])
            block = block[size:]
        cmac, smac, ckey, skey, civ, siv = parts
        self._pending12[True] = _Keys(s, ckey, civ, cmac, self.etm)
        self._pending12[False] = _Keys(s, skey, siv, smac, self.etm)
