"""`v2gate decode --pcap`: a real ISO 15118-2 session (our EVCC against our SECC) in a
capture, plain and through TLS 1.2 / 1.3 with the SECC's lab keylog, each message
decoded in order; encrypted streams listed without a keylog; bad captures one line."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from host import cli, exi
from host.v2g import pcap, v2gtp
from host.v2g.tlsrecords import SUITES, TlsError, TlsStream, _Keys
from tests.host.exi import pcapgen
from tests.pki import Pki, make_pki

SAP = "urn:iso:15118:2:2010:AppProtocol"
ISO2 = "urn:iso:15118:2:2013:MsgDef"


@pytest.fixture(scope="module")
def conversation() -> list[pcapgen.Chunk]:
    return pcapgen.iso2_conversation()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def expected(conversation: list[pcapgen.Chunk]) -> list[tuple[str, str]]:
    """(sender, root element) of every message, straight from the bytes the EVCC and
    SECC exchanged: what the capture must give back."""
    out, readers = [], {True: v2gtp.V2gtpReader(), False: v2gtp.V2gtpReader()}
    for n, (from_ev, data) in enumerate(conversation):
        readers[from_ev].feed(data)
        while (msg := readers[from_ev].maybe_read_message()) is not None:
            ns = SAP if n < 2 else ISO2
            root = next(iter(exi.to_json(exi.decode(ns, msg.payload), ns)))
            out.append(("EV" if from_ev else "SECC", root))
    return out


def decode(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict], str]:
    code = cli.main(["decode", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def messages(records: list[dict]) -> list[tuple[str, str]]:
    got = []
    for r in records:
        if "message" in r:
            body = r["message"]
            root = next(iter(body))
            got.append((r["from"], root if root != "V2G_Message" else next(iter(body[root]["Body"]))))
    return got


def roots(conversation: list[pcapgen.Chunk]) -> list[tuple[str, str]]:
    return [(who, root) for who, root in expected(conversation)]


def test_plain_tcp_session_from_a_pcap(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       conversation: list[pcapgen.Chunk]) -> None:
    cap = pcapgen.write_capture(tmp_path / "v2g.pcap", pcapgen.packets(conversation))
    code, records, err = decode(capsys, "--pcap", str(cap))
    assert code == 0, err
    got = messages(records)
    want = expected(conversation)
    assert len(got) == len(want) >= 20
    assert got[0] == ("EV", "supportedAppProtocolReq") and got[1] == ("SECC", "supportedAppProtocolRes")
    bodies = [name for _who, name in got[2:]]
    assert bodies[0] == "SessionSetupReq" and bodies[-1] == "SessionStopRes"
    assert [who for who, _ in got] == [who for who, _ in want]
    assert all(r["client"] == "[fe80::1]:50123" and r["server"] == "[fe80::2]:49152" for r in records)
    assert [r["namespace"] for r in records[2:]] == [ISO2] * (len(records) - 2)


@pytest.mark.parametrize(("tls13", "etm", "pcapng", "suite"), [
    (False, True, True, "TLS 1.2 ECDHE-ECDSA-AES128-SHA256"),
    (False, False, False, "TLS 1.2 ECDHE-ECDSA-AES128-SHA256"),
    (True, True, False, "TLS 1.3 TLS_AES_256_GCM_SHA384"),
])
def test_tls_session_decrypted_with_the_secc_s_keylog(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, conversation: list[pcapgen.Chunk],
        pki: Pki, tls13: bool, etm: bool, pcapng: bool, suite: str) -> None:
    keylog = tmp_path / "sslkeys.log"
    wire = pcapgen.tls_wire(conversation, pki, keylog, tls13=tls13, etm=etm)
    cap = pcapgen.write_capture(tmp_path / "v2g.cap", pcapgen.packets(wire), pcapng=pcapng)
    code, records, err = decode(capsys, "--pcap", str(cap), "--keylog", str(keylog))
    assert code == 0, err
    assert records[0]["tls"] == suite and records[0]["stream"] == "decrypted with the keylog"
    assert messages(records[1:]) == messages(records)  # nothing but messages after it
    got = messages(records)
    assert len(got) == len(expected(conversation))
    assert got[0] == ("EV", "supportedAppProtocolReq") and got[-1] == ("SECC", "SessionStopRes")

    # without the keylog: listed as encrypted, nothing decoded, nothing invented
    code, records, err = decode(capsys, "--pcap", str(cap))
    assert code == 0, err
    assert len(records) == 1
    assert records[0]["tls"] == suite
    assert records[0]["stream"] == "encrypted: give --keylog SSLKEYLOGFILE to decrypt"
    assert records[0]["records"] > 2 * len(got) // 2


def test_a_keylog_of_another_session_is_an_error_record(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, conversation: list[pcapgen.Chunk],
        pki: Pki) -> None:
    wire = pcapgen.tls_wire(conversation, pki, tmp_path / "mine.log")
    pcapgen.tls_wire(conversation, pki, tmp_path / "other.log")
    cap = pcapgen.write_capture(tmp_path / "v2g.pcap", pcapgen.packets(wire))
    code, records, _ = decode(capsys, "--pcap", str(cap), "--keylog", str(tmp_path / "other.log"))
    assert code == 1
    (rec,) = records
    assert rec["error"].startswith("the keylog has no CLIENT_RANDOM for this TLS 1.2 "
                                   "ECDHE-ECDSA-AES128-SHA256 session")


def _server_hello(suite: int) -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + struct.pack(">HB", suite, 0)
    hs = bytes([2]) + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs


def test_unsupported_suite_says_which_are() -> None:
    stream = TlsStream({})
    with pytest.raises(TlsError) as e:
        stream.receive(False, _server_hello(0xC009))
    text = str(e.value)
    assert text.startswith("TLS 1.2 suite 0xc009 is not supported for decryption (supported: TLS 1.2: ")
    assert "ECDHE-ECDSA-AES128-SHA256" in text and "TLS 1.3: " in text and "CHACHA20" in text


def test_tls13_chacha20_record_opens() -> None:
    """Python's ssl cannot pick the TLS 1.3 suite, so CHACHA20-POLY1305 is checked on a
    record sealed here with the key and nonce rules of RFC 8446 §5.3."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    key, iv = bytes(range(32)), bytes(range(12))
    plain = b"\x01\xfe\x80\x01\x00\x00\x00\x02\x80\x98" + bytes([23])  # inner type 23
    seq = 1
    nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + seq.to_bytes(8, "big"), strict=True))
    header = b"\x17\x03\x03" + struct.pack(">H", len(plain) + 16)
    sealed = ChaCha20Poly1305(key).encrypt(nonce, plain, header)
    k = _Keys(SUITES[0x1303], key, iv)
    k.seq = seq
    assert k.open(23, b"\x03\x03", sealed) == (23, plain[:-1])
    k.seq = seq  # the same record again, as the wrong record number: refused
    with pytest.raises(TlsError):
        k.open(23, b"\x03\x03", sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_bad_captures_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   conversation: list[pcapgen.Chunk]) -> None:
    code, _, err = decode(capsys, "--pcap", str(tmp_path / "none.pcap"))
    assert code == 2
    assert err == f"v2gate decode: cannot read {tmp_path / 'none.pcap'}: No such file or directory\n"
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a capture\n")
    code, _, err = decode(capsys, "--pcap", str(text))
    assert code == 2
    assert err == f"v2gate decode: {text}: not a pcap or pcapng file (it starts 68656c6c)\n"
    whole = pcapgen.write_capture(tmp_path / "whole.pcap", pcapgen.packets(conversation)).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-30])
    code, records, err = decode(capsys, "--pcap", str(cut))
    assert code == 2
    assert len(records) >= 20  # what came before the cut is printed, then the error
    assert err.startswith(f"v2gate decode: {cut}: cut short in a packet at byte ") and err.count("\n") == 1
    code, _, err = decode(capsys, "--pcap", str(cut), "--ns", ISO2)
    assert code == 2 and "no HEX, --encode or --ns with it" in err
    code, _, err = decode(capsys, "--keylog", str(cut), "80")
    assert code == 2 and err == "v2gate decode: --keylog goes with --pcap\n"
    bad_keys = tmp_path / "keys.log"
    bad_keys.write_text("CLIENT_RANDOM zz\n")
    code, _, err = decode(capsys, "--pcap", str(cut), "--keylog", str(bad_keys))
    assert code == 2 and err == f"v2gate decode: {bad_keys}:1: not an SSLKEYLOGFILE line (LABEL CLIENT_RANDOM SECRET)\n"


def _seg(seq: int, data: bytes, t: float = 0.0) -> pcap.Segment:
    return pcap.Segment(t, ("a", 1), ("b", 2), seq, 0x18, data)


def test_reassembly_orders_drops_repeats_and_trims_overlaps() -> None:
    d = pcap.Direction()
    assert d.take(pcap.Segment(0, ("a", 1), ("b", 2), 99, pcap.TCP_SYN, b"")) == []
    assert d.take(_seg(105, b"fgh")) == []  # ahead: held
    assert d.take(_seg(100, b"abc")) == [(0.0, b"abc")]
    assert d.take(_seg(100, b"abc")) == []  # a retransmission
    assert d.take(_seg(102, b"cde", 1.0)) == [(1.0, b"de"), (1.0, b"fgh")]  # overlap trimmed
    assert d.take(_seg(120, b"xyz")) == []  # after a hole
    assert d.flush() == [(0.0, b"xyz")] and d.gaps == 12


def test_reassembly_across_the_sequence_wrap() -> None:
    d = pcap.Direction()
    d.take(pcap.Segment(0, ("a", 1), ("b", 2), 0xFFFFFFFD, pcap.TCP_SYN, b""))
    assert d.take(_seg(1, b"cd")) == []
    assert d.take(_seg(0xFFFFFFFE, b"ab\x00")) == [(0.0, b"ab\x00"), (0.0, b"cd")]


def test_a_connection_that_is_not_v2g_is_listed_as_such(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    frames = pcapgen.packets([(True, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3), (False, b"HTTP/1.1 200 OK\r\n\r\n")])
    cap = pcapgen.write_capture(tmp_path / "web.pcapng", frames, pcapng=True)
    code, records, err = decode(capsys, "--pcap", str(cap))
    assert code == 0, err
    assert records == [{"t": records[0]["t"], "connection": 1, "client": "[fe80::1]:50123",
                        "server": "[fe80::2]:49152",
                        "stream": "not V2GTP (neither a V2GTP header nor a TLS handshake)"}]


def test_a_cut_short_server_hello_or_gcm_record_is_a_tls_error() -> None:
    """A capture is input from anywhere: a ServerHello too short for its fields, or a TLS 1.2
    GCM record too short for its explicit nonce and tag, is a TlsError (the stream's error
    record), not an IndexError / ValueError traceback out of `v2gate decode --pcap`."""
    hello = bytes([2]) + (10).to_bytes(3, "big") + bytes(10)
    with pytest.raises(TlsError, match="ServerHello"):
        TlsStream({}).receive(False, b"\x16\x03\x03" + struct.pack(">H", len(hello)) + hello)
    whole = _server_hello(0xC02B)
    body = whole[9:]
    for cut in (34, 36, 37):  # no session id length; inside the suite; no compression method
        hs = bytes([2]) + cut.to_bytes(3, "big") + body[:cut]
        with pytest.raises(TlsError, match="ServerHello"):
            TlsStream(None).receive(False, b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs)
    keys = _Keys(SUITES[0xC02B], bytes(16), bytes(4))
    for size in (0, 3, 8, 23):
        with pytest.raises(TlsError):
            keys.open(23, b"\x03\x03", bytes(size))


def test_pcapng_blocks_too_short_for_their_fields_are_one_line(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An interface description, enhanced or simple packet block whose body is shorter than
    its fixed fields: a CaptureError naming the block, not a struct.error traceback."""
    shb = (struct.pack("<II", 0x0A0D0D0A, 28) + b"\x4d\x3c\x2b\x1a"
           + struct.pack("<HHq", 1, 0, -1) + struct.pack("<I", 28))  # fmt: skip
    idb = struct.pack("<II", 1, 20) + struct.pack("<HHI", 1, 0, 0) + struct.pack("<I", 20)
    for kind, before in ((1, b""), (6, idb), (3, idb)):
        for size in (12, 16):  # an empty body, a body of 4 bytes
            block = struct.pack("<II", kind, size) + bytes(size - 12) + struct.pack("<I", size)
            if kind == 3 and size == 16:
                continue  # 4 bytes are a whole simple packet block (an empty packet)
            cap = tmp_path / f"short{kind}_{size}.pcapng"
            cap.write_bytes(shb + before + block)
            code, _, err = decode(capsys, "--pcap", str(cap))
            assert code == 2, (kind, size, err)
            assert err.startswith(f"v2gate decode: {cap}: pcapng block ") and err.count("\n") == 1


def test_an_if_tsresol_option_cut_off_before_its_value_is_not_a_traceback(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An interface description whose options end right after an if_tsresol header (size 1,
    no value byte) raised IndexError; the value is missing, so the default resolution
    (microseconds) holds and the capture decodes (nothing in it here)."""
    shb = (struct.pack("<II", 0x0A0D0D0A, 28) + b"\x4d\x3c\x2b\x1a"
           + struct.pack("<HHq", 1, 0, -1) + struct.pack("<I", 28))  # fmt: skip
    body = struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 1)
    idb = struct.pack("<II", 1, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    cap = tmp_path / "tsresol.pcapng"
    cap.write_bytes(shb + idb)
    code, records, err = decode(capsys, "--pcap", str(cap))
    assert (code, records, err) == (0, [], "")
    assert pcap._ts_resol(struct.pack("<HHB", 9, 1, 0x83), "<") == 2.0 ** -3  # when present


def test_tls13_session_with_a_hello_retry_request_is_decrypted(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, conversation: list[pcapgen.Chunk],
        pki: Pki) -> None:
    """An EV whose first key share is in a group our SECC does not take (OpenSSL's default
    client sends X25519 only; the SECC wants P-521, X448, P-256) gets a HelloRetryRequest: a
    ServerHello with the RFC 8446 §4.1.3 random, after which the EV's second ClientHello is
    still plaintext. Handshake keys were installed at the HRR, so that ClientHello "did not
    decrypt" and the whole session was reported as another session's keylog."""
    import ssl

    ev = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ev.check_hostname = False
    ev.load_verify_locations(str(pki.v2g.root.cert_path))
    ev.minimum_version = ssl.TLSVersion.TLSv1_3
    keylog = tmp_path / "sslkeys.log"
    wire = pcapgen.tls_wire(conversation, pki, keylog, tls13=True, client_ctx=ev)
    hello_retry = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    assert hello_retry in b"".join(data for from_ev, data in wire if not from_ev)  # an HRR
    cap = pcapgen.write_capture(tmp_path / "v2g.pcap", pcapgen.packets(wire))
    code, records, err = decode(capsys, "--pcap", str(cap), "--keylog", str(keylog))
    assert code == 0, (err, records[:2])
    assert records[0]["stream"] == "decrypted with the keylog"
    assert len(messages(records)) == len(expected(conversation))
