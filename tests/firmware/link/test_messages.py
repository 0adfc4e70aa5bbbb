# firmware-vm
"""Message catalogue: golden payloads both ways (asn1tools style), and every rejection.

The golden payloads were written out by hand from the layout in docs/link.md (little
endian, type | seq | body, with epoch | order before the body of an ordered command);
a change to a layout must change this table on purpose. Ordered commands are encoded
with epoch 0x0A0B0C0D and order 0x01020304.
"""

from firmware.link import dcmessages as dm
from firmware.link import messages as m
from tests.firmware.vmcheck import raises

EPOCH = 0x0A0B0C0D
ORDER = 0x01020304
E_O = "0d0c0b0a 04030201"

GOLDEN = (
    (m.HostHello(2, 2, 0x11223344), 1, "010100 02 02 44332211"),
    (m.Heartbeat(0x01020304), 2, "020200 04030201"),
    (m.SetPilot(m.PILOT_PWM, 2667), 7, "030700" + E_O + "00 6b0a"),
    (m.SetPilot(m.PILOT_F, 10000), 8, "030800" + E_O + "02 1027"),
    (m.PowerLease(1, 0, 160, 1000), 0x0102, "040201" + E_O + "01 00 a000 e803 00000000"),
    (m.PowerLease(1, 1, 0, 1000, -7400), 0x0103, "040301" + E_O + "01 01 0000 e803 18e3ffff"),
    (m.Reset(m.RESET_CLEAR_FAULTS), 3, "050300" + E_O + "01"),
    (m.SetConfig(m.CFG_LINK_TIMEOUT, 500), 4, "060400" + E_O + "01 f4010000"),
    (m.FirmwareHello(2, 0, 1, 0, b"sim", 0, 1, 0xFFFFFFFE), 1,
     "810100 02 00 01 00 73696d000000000000000000 00000000 01 feffffff"),
    (m.Status(3, 0, 2666, 1, 750, 160, 0, 0, 0, 1, 0x0A0B0C0D, 9, 0, 500), 5,
     "820500 03 00 6a0a 01 ee02 a000 00000000 00000000 00000000 01 0d0c0b0a 09000000 00 f401"
     " 00000000"),
    (m.Status(3, 0, 2666, 1, 750, 160, 0, 0, 0, 1, 0x0A0B0C0D, 9, 0, 500, 11000), 6,
     "820600 03 00 6a0a 01 ee02 a000 00000000 00000000 00000000 01 0d0c0b0a 09000000 00 f401"
     " f82a0000"),
    (m.CpStateChanged(m.CP_A, m.CP_B, 1000), 6, "830600 01 02 e8030000"),
    (m.ContactorChanged(0, 1, 2000), 7, "840700 00 01000000 d0070000"),
    (m.ContactorChanged(0, 0x800, 2000), 8, "840800 00 00080000 d0070000"),  # override-active
    (m.ContactorChanged(0, 1 << 17, 2000), 9, "840900 00 00000200 d0070000"),  # dc-not-requested
    (m.Fault(10, 1, 1, 505, 3000), 8, "850800 0a00 01000000 01000000 f9010000 b80b0000"),
    (m.Telemetry(6000, -12000, 250, 251, 16000, 0, 1, 4000), 9,
     "860900 7017 20d1 fa00 fb00 803e0000 0000 0100 a00f0000"),
    (m.GridStatus(50012, -250, 230000, 0x0F, 0, 0, -150, 12, 5000), 12,
     "890c00 5cc30000 06ff 70820300 0f 00 00 6affffff 0c00 88130000"),
    (m.Ack(3, 7, 0, 0x0A0B0C0D, 2), 10, "870a00 03 0700 00 0d0c0b0a 02000000"),
    (m.Nack(3, 8, m.NACK_OUT_OF_RANGE, 1, 0xFF, 0, 0), 11, "880b00 03 0800 03 01 ff 00000000 00000000"),
    # issue 15, assembled by hand from the layouts: Lock(unlock); a 13 A cable (1.5 kOhm,
    # state ok) with the lock locked; contactor 0 after 300 closes, 2 under load
    (m.Lock(0), 12, "070c00" + E_O + "00"),
    (m.CableStatus(2, 130, 1500, 0, 2, 6000), 13, "8a0d00 02 8200 dc05 00 02 70170000"),
    (m.WearStatus(0, 300, 2, 2000, 0, 7000), 14,
     "8b0e00 00 2c010000 02000000 d0070000 00000000 581b0000"),
)
# DC charger hardware
GOLDEN += (
    (dm.DcContactor(1, 3600), 13, "080d00" + E_O + "01 100e"),
    (dm.IsolationRequest(1, 5000), 14, "090e00" + E_O + "01 8813"),
    (dm.DcStatus(dm.DC_CLOSED, 0x1B, 1, 3612, 0, 5000, dm.ISO_VALID, 6000), 15,
     "8c0f00 02 1b 01 1c0e 00 88130000 02 70170000"),
    (dm.DcStatus(dm.DC_OPEN, 0, 0, 0, 1, -1, dm.ISO_FAULT, 7000), 16,
     "8c1000 00 00 00 0000 01 ffffffff 04 581b0000"),
)


def _hex(s):
    return bytes.fromhex(s.replace(" ", ""))


def test_encode_golden():
    for msg, seq, wire in GOLDEN:
        assert msg.encode(seq, epoch=EPOCH, order=ORDER) == _hex(wire), repr(msg)


def test_decode_golden():
    for msg, seq, wire in GOLDEN:
        got_seq, got = m.decode(_hex(wire))
        assert (got_seq, got) == (seq, msg), wire
        if msg.ORDERED:
            assert (got.epoch, got.order) == (EPOCH, ORDER), wire


def test_only_commands_are_ordered_and_each_class_is_its_own():
    ordered = [c.__name__ for c in m.CATALOGUE if c.ORDERED]
    assert ordered == ["SetPilot", "PowerLease", "Reset", "SetConfig", "Lock", "DcContactor",
                       "IsolationRequest"]
    classes = [m.order_class(m.SetPilot(0, 500)), m.order_class(m.PowerLease(0, 0, 0, 50))]
    classes.append(m.order_class(m.Lock(0)))
    classes += [m.order_class(dm.DcContactor(0, 0)), m.order_class(dm.IsolationRequest(0, 0))]
    classes += [m.order_class(m.Reset(w)) for w in range(1, m.Reset.RANGES[0][1] + 1)]
    classes += [m.order_class(m.SetConfig(k, 0)) for k in m.CONFIG_KEYS]
    assert sorted(classes) == list(range(m.ORDER_CLASSES))  # one each, none shared
    assert m.order_class(m.SetConfig(99, 0)) == -1 and m.order_class(m.Reset(0)) == -1
    assert m.order_class(m.Heartbeat(0)) == -1 and m.order_class(m.HostHello(2, 2, 0)) == -1


def test_every_message_has_a_golden_vector():
    covered = set(type(g[0]) for g in GOLDEN)
    for cls in m.CATALOGUE:
        assert cls in covered, cls.__name__


def test_ids_unique_and_directional():
    seen = set()
    for cls in m.CATALOGUE:
        assert cls.TYPE not in seen
        seen.add(cls.TYPE)
        assert len(cls.FIELDS) == len(cls.RANGES)


def test_unknown_type():
    e = raises(m.LinkDecodeError, m.decode, _hex("7f0100"))
    assert e.reason == m.NACK_UNKNOWN_TYPE and e.msg_type == 0x7F and e.seq == 1


def test_short_and_long_bodies():
    e = raises(m.LinkDecodeError, m.decode, _hex("030700" + E_O + "00 6b"))
    assert e.reason == m.NACK_BAD_LENGTH
    e = raises(m.LinkDecodeError, m.decode, _hex("030700" + E_O + "00 6b0a 00"))
    assert e.reason == m.NACK_BAD_LENGTH
    e = raises(m.LinkDecodeError, m.decode, _hex("030700 00 6b0a"))  # version 1 layout
    assert e.reason == m.NACK_BAD_LENGTH
    e = raises(m.LinkDecodeError, m.decode, _hex("03"))
    assert e.reason == m.NACK_BAD_LENGTH


def test_out_of_range_names_the_field():
    cases = (
        (m.SetPilot(m.PILOT_PWM, 15000), 1),  # duty 150 %
        (m.SetPilot(m.PILOT_PWM, 300), 1),  # 3 %: an error duty
        (m.SetPilot(7, 5000), 0),  # no such mode
        (m.PowerLease(1, 0, 900, 1000), 2),  # 90 A
        (m.PowerLease(1, 0, 160, 0), 3),  # lease expiry 0
        (m.PowerLease(2, 0, 160, 1000), 0),
        (m.PowerLease(1, 1, 0, 1000, -m.POWER_MAX_W - 1), 4),  # beyond 1 MW
        (m.PowerLease(1, 0, 0, 1000, m.POWER_MAX_W + 1), 4),
        (m.Reset(9), 0),
    )
    for msg, field in cases:
        e = raises(m.LinkDecodeError, m.decode, msg.encode(1, check=False))
        assert e.reason == m.NACK_OUT_OF_RANGE and e.field == field, repr(msg)


def test_negative_current_cannot_be_expressed():
    # current is unsigned on the wire: -1 A packs only as 0xFFF6 = 6553.4 A, out of range
    e = raises(m.LinkDecodeError, m.decode, _hex("040100" + E_O + "01 00 f6ff e803 00000000"))
    assert e.reason == m.NACK_OUT_OF_RANGE and e.field == 2


def test_encode_refuses_out_of_range():
    raises(ValueError, m.SetPilot(m.PILOT_PWM, 15000).encode, 1)


def test_constructor_checks_fields():
    raises(TypeError, m.SetPilot, 0)
    raises(TypeError, m.SetPilot, 0, 1, 2)
    raises(TypeError, m.SetPilot, mode=0, duty=1000, bogus=1)
    assert m.SetPilot(mode=0, duty=1000) == m.SetPilot(0, 1000)


def test_fields_added_at_the_end_have_defaults():
    # code written for version 2 still builds a lease and a Status; the wire has the field
    assert m.PowerLease(1, 0, 160, 1000) == m.PowerLease(1, 0, 160, 1000, power_w=0)
    assert m.Status(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0).limit_w == 0
    raises(TypeError, m.PowerLease, 1, 0, 160)  # a field without a default is still needed


def test_version_1_and_2_lease_layouts_are_refused():
    e = raises(m.LinkDecodeError, m.decode, _hex("040201" + E_O + "01 00 a000 e803"))
    assert e.reason == m.NACK_BAD_LENGTH


def test_a_dc_close_or_isolation_test_needs_its_voltage():
    for cls in (dm.DcContactor, dm.IsolationRequest):
        assert cls(1, 99).out_of_range() == 1 and cls(1, 100).out_of_range() == -1
        assert cls(0, 0).out_of_range() == -1  # open / cancel: no voltage
        e = raises(m.LinkDecodeError, m.decode, cls(1, 50).encode(3, check=False, epoch=1, order=2))
        assert e.reason == m.NACK_OUT_OF_RANGE and e.field == 1 and e.klass == m.order_class(cls(0, 0))
