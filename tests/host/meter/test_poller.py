"""The poller on fake time against the simulated meter's registers in memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.meter.maps import ABB_B23, OCMF_BLOCK, SDM630, MeterMap
from host.meter.poller import (
    ExportPermissionChanged,
    MeterLost,
    MeterPoller,
    MeterRestored,
    ReadFailed,
    ReadingFlagged,
    ReadingTaken,
    SignedValueRejected,
    SignedValueVerified,
)
from host.meter.sim import SimulatedMeter

from .helpers import Clock, drain, of, run_cycle

pytestmark = pytest.mark.unit


def setup(meter_map: MeterMap = ABB_B23, **kw: object) -> tuple[MeterPoller, SimulatedMeter,
                                                                 Clock]:
    clock = Clock()
    meter = SimulatedMeter(meter_map, clock=clock)
    meter.import_wh = 1_000_000.0
    meter.export_wh = 50_000.0
    opts: dict = {"site_unit": 2, "interval": 1.0, "timeout": 0.5, "retries": 2,
                  "rated_power_w": 11_000.0}
    opts.update(kw)
    return MeterPoller(meter.map, clock.t, **opts), meter, clock


@pytest.mark.parametrize("meter_map", [SDM630, ABB_B23], ids=lambda m: m.name)
def test_a_reading_carries_every_quantity_and_allows_export(meter_map: MeterMap) -> None:
    poller, meter, clock = setup(meter_map)
    meter.power_w = -9000.0
    events = run_cycle(poller, meter, clock)
    (taken,) = of(events, ReadingTaken)
    v = taken.values
    assert v["import_wh"] == pytest.approx(1_000_000.0, abs=10)
    assert v["export_wh"] == pytest.approx(50_000.0, abs=10)
    assert v["power_total"] == pytest.approx(-9000.0, abs=0.01)
    assert v["power_l2"] == pytest.approx(-3000.0, abs=0.01)
    assert v["voltage_l3"] == pytest.approx(230.0, abs=0.1)
    assert v["current_l1"] == pytest.approx(3000 / 230, abs=0.01)
    assert v["frequency"] == pytest.approx(50.0, abs=0.01)
    assert of(events, ExportPermissionChanged) == [ExportPermissionChanged(True, "metered",
                                                                           clock.t)]
    assert poller.export_allowed


def test_export_waits_for_the_first_reading() -> None:
    poller, meter, clock = setup()
    assert not poller.export_allowed
    assert poller.export_reason == "no meter reading yet"


def test_a_read_timing_out_is_retried_then_the_meter_is_lost() -> None:
    poller, meter, clock = setup()
    run_cycle(poller, meter, clock)
    assert poller.export_allowed
    clock.t = poller.get_timer() or 0.0
    poller.handle_timer(clock.t)
    sent = []
    while (req := poller.next_request(clock.t)) is not None:
        sent.append(req)
        assert drain(poller) == []          # no verdict while retries remain
        clock.t = poller.get_timer() or 0.0  # its deadline: nobody answers
        poller.handle_timer(clock.t)
        if len(sent) == 3:
            break
    events = drain(poller)
    assert [r.read for r in sent] == [sent[0].read] * 3     # the same read, 1 + 2 retries
    assert of(events, ReadFailed)[0].reason == "timeout"
    assert of(events, MeterLost)
    assert of(events, ExportPermissionChanged)[0].allowed is False
    assert not poller.export_allowed
    assert poller.counters.timeouts == 3 and poller.counters.retries == 2


def test_one_failed_attempt_within_retries_changes_nothing() -> None:
    poller, meter, clock = setup()
    run_cycle(poller, meter, clock)
    clock.t = poller.get_timer() or 0.0
    poller.handle_timer(clock.t)
    req = poller.next_request(clock.t)
    assert req is not None
    poller.fail(req.id, "CRC", clock.t)
    events = run_cycle(poller, meter, clock)
    assert of(events, ReadingTaken) and not of(events, MeterLost)
    assert poller.export_allowed and poller.counters.retries == 1


def test_the_meter_comes_back_after_a_loss() -> None:
    poller, meter, clock = setup()
    run_cycle(poller, meter, clock)
    run_cycle(poller, meter, clock, fail={"meter"})   # 1 + 2 attempts, all fail
    assert not poller.export_allowed
    events = run_cycle(poller, meter, clock)
    assert of(events, MeterRestored)
    assert poller.export_allowed


def test_no_answer_at_all_is_caught_by_the_stale_timer() -> None:
    """A driver that never answers nor fails (hung) still ends in a fault."""
    poller, meter, clock = setup(timeout=100.0, stale_after=5.0)
    run_cycle(poller, meter, clock)
    clock.t = poller.get_timer() or 0.0
    poller.handle_timer(clock.t)
    assert poller.next_request(clock.t) is not None
    timer = poller.get_timer()
    assert timer is not None and timer <= clock.t + 5.0
    clock.t = timer
    poller.handle_timer(clock.t)
    assert of(drain(poller), MeterLost)[0].reason.startswith("no complete reading")


def test_an_answer_after_its_timeout_is_dropped() -> None:
    poller, meter, clock = setup()
    clock.t = poller.get_timer() or 0.0
    poller.handle_timer(clock.t)
    req = poller.next_request(clock.t)
    assert req is not None
    clock.t += 1.0
    poller.handle_timer(clock.t)          # timed out: the retry goes out with a new id
    retry = poller.next_request(clock.t)
    assert retry is not None and retry.id != req.id
    poller.receive(req.id, [0] * req.read.count, clock.t)
    assert poller.counters.late_answers == 1


@pytest.mark.parametrize("meter_map", [SDM630, ABB_B23], ids=lambda m: m.name)
def test_energy_going_backwards_is_flagged_and_not_passed_on(meter_map: MeterMap) -> None:
    poller, meter, clock = setup(meter_map)
    run_cycle(poller, meter, clock)
    meter.export_wh -= 1000.0
    events = run_cycle(poller, meter, clock)
    (flag,) = of(events, ReadingFlagged)
    assert (flag.name, flag.reason) == ("export_wh", "backwards")
    assert flag.accepted_wh == pytest.approx(50_000, abs=10)
    (taken,) = of(events, ReadingTaken)
    assert "export_wh" not in taken.values and "import_wh" in taken.values
    assert not poller.export_allowed
    assert "export_wh backwards" in poller.export_reason
    # the accepted value stays the reference: back to where it was is fine again
    meter.export_wh += 1000.0
    events = run_cycle(poller, meter, clock)
    assert not of(events, ReadingFlagged) and poller.export_allowed


def test_a_jump_beyond_rated_power_is_flagged() -> None:
    poller, meter, clock = setup(rated_power_w=11_000.0)
    run_cycle(poller, meter, clock)
    meter.import_wh += 500.0          # in ~1 s: 1.8 MW
    events = run_cycle(poller, meter, clock)
    (flag,) = of(events, ReadingFlagged)
    assert (flag.name, flag.reason) == ("import_wh", "jump")


def test_energy_at_rated_power_is_not_a_jump() -> None:
    poller, meter, clock = setup(rated_power_w=11_000.0)
    meter.power_w = -11_000.0
    for _ in range(5):
        events = run_cycle(poller, meter, clock)
        assert not of(events, ReadingFlagged)
    assert of(events, ReadingTaken)[0].values["export_wh"] > 50_000.0


def test_a_restored_reference_catches_a_meter_that_went_back_while_we_were_down() -> None:
    clock = Clock()
    meter = SimulatedMeter(ABB_B23, clock=clock)
    meter.import_wh = 900.0
    poller = MeterPoller(meter.map, clock.t,
                         accepted_energy_wh={"import_wh": (5000.0, clock.t - 60)})
    events = run_cycle(poller, meter, clock)
    assert of(events, ReadingFlagged)[0].reason == "backwards"


def test_site_controller_disabling_or_silent_stops_export() -> None:
    poller, meter, clock = setup()
    run_cycle(poller, meter, clock)
    assert poller.export_allowed
    meter.site_export_enabled = False
    events = run_cycle(poller, meter, clock)
    assert of(events, ExportPermissionChanged)[0].reason == "site controller disables export"
    meter.site_export_enabled = True
    run_cycle(poller, meter, clock)
    assert poller.export_allowed
    events = run_cycle(poller, meter, clock, fail={"site"})
    assert of(events, ExportPermissionChanged)[0].reason == "site controller not answering"
    assert not of(events, MeterLost)        # the meter itself is fine


def signing_setup() -> tuple[MeterPoller, SimulatedMeter, Clock]:
    clock = Clock()
    meter = SimulatedMeter(ABB_B23.signing(OCMF_BLOCK), clock=clock)
    meter.import_wh, meter.export_wh = 12_345_670.0, 2_000.0
    poller = MeterPoller(meter.map, clock.t, public_key=meter.public_key, signed_every=1)
    return poller, meter, clock


def test_a_signed_record_is_verified_and_becomes_an_ocpp_signed_meter_value() -> None:
    poller, meter, clock = signing_setup()
    events = run_cycle(poller, meter, clock)
    (ok,) = of(events, SignedValueVerified)
    assert ok.record.readings[0].wh == pytest.approx(12_345_670.0, abs=1)
    assert ok.signed_meter_value["encodingMethod"] == "OCMF"
    assert ok.signed_meter_value["signingMethod"] == "ECDSA-secp256r1-SHA256"


def test_a_bad_signature_is_rejected_and_reported() -> None:
    poller, meter, clock = signing_setup()
    meter.spoil_signature = True
    events = run_cycle(poller, meter, clock)
    assert not of(events, SignedValueVerified)
    (bad,) = of(events, SignedValueRejected)
    assert bad.reason == "bad signature" and bad.text is not None
    assert poller.counters.signed_rejected == 1


def test_a_signed_value_that_differs_from_the_register_is_rejected() -> None:
    poller, meter, clock = signing_setup()
    meter.sign_offset_wh = 2000.0
    (bad,) = of(run_cycle(poller, meter, clock), SignedValueRejected)
    assert "does not match the register" in bad.reason


def test_a_record_from_another_meter_key_is_rejected() -> None:
    poller, meter, clock = signing_setup()
    other = SimulatedMeter(meter.map, clock=clock)
    poller.public_key = other.public_key
    (bad,) = of(run_cycle(poller, meter, clock), SignedValueRejected)
    assert bad.reason == "bad signature"


def test_signed_records_are_read_only_when_asked() -> None:
    poller, meter, clock = signing_setup()
    poller.signed_every = None
    assert not of(run_cycle(poller, meter, clock), SignedValueVerified)
    poller.request_signed()
    assert of(run_cycle(poller, meter, clock), SignedValueVerified)
    assert not of(run_cycle(poller, meter, clock), SignedValueVerified)


@given(st.sampled_from([SDM630, ABB_B23]),
       st.lists(st.lists(st.integers(0, 0xFFFF), min_size=100, max_size=100),
                min_size=1, max_size=4))
def test_any_register_contents_give_events_never_a_crash(meter_map: MeterMap,
                                                          answers: list[list[int]]) -> None:
    """Whatever a broken meter answers, the poller reports it (reading, flag or fault)
    and keeps export off unless a whole reading passed."""
    clock = Clock()
    poller = MeterPoller(meter_map, clock.t)
    for regs in answers:
        clock.t = poller.get_timer() or clock.t
        poller.handle_timer(clock.t)
        while (req := poller.next_request(clock.t)) is not None:
            clock.t += 0.01
            poller.receive(req.id, regs[:req.read.count], clock.t)
        events = drain(poller)
        taken = of(events, ReadingTaken)
        assert taken or of(events, ReadFailed)          # every cycle says what happened
        if poller.export_allowed:
            assert taken and {"import_wh", "export_wh"} <= set(taken[-1].values)


def test_a_lost_meter_between_requests_has_no_timer_rather_than_a_crash() -> None:
    """Lost (no stale timer), a cycle started (no cycle timer), nothing in flight (no
    deadline): the driver asks for the timer here and once got a ValueError."""
    poller, meter, clock = setup()
    run_cycle(poller, meter, clock, fail={"meter"})
    assert not poller.export_allowed
    clock.t = poller.get_timer() or 0.0
    poller.handle_timer(clock.t)
    assert poller.get_timer() is None
    assert poller.next_request(clock.t) is not None
