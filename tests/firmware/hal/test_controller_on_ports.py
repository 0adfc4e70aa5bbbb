"""The real controller and link server run on each port's HAL (over fake hardware).

The port HALs are tested method by method elsewhere; this checks the wiring that
firmware/main.py does on a board: make_hal(board) -> Controller -> LinkServer, ticks,
the watchdog, telemetry, and a link command arriving over the (fake) UART.
"""

from __future__ import annotations

from typing import Any

import pytest

import boards
from firmware import main
from firmware.app.controller import Controller
from firmware.app.linkserver import LinkServer
from firmware.link import frame
from firmware.link import messages as m

pytestmark = pytest.mark.unit

CONTRACT = ("sample_cp", "set_pilot", "duty_steps", "set_contactor", "contactor_feedback",
            "rcd_fault", "rcd_test", "estop", "ntc_counts", "current_ma", "feed_wdt",
            "reset_reason", "reboot")


def run_cp_isrs(hw: Any, port: str) -> None:
    """The CP sampling interrupts of one pilot period (esp32 samples inside sample_cp)."""
    if port == "rp2":
        hw.pio_irqs[0].fire(0x300)
    elif port == "stm32":
        hw.timers[0].run()


@pytest.mark.parametrize(("port", "board_name"), [("rp2", "rp2040"), ("esp32", "esp32s3"),
                                                   ("stm32", "stm32")])
def test_controller_runs_on_port_hal(fake_port: Any, port: str, board_name: str) -> None:
    hw = fake_port(port)
    board = boards.load(board_name)
    hal = main.make_hal(board)
    # a healthy carrier board: RCD output and E-stop loop pull low, NTCs read 25 C
    pins = board["pins"]
    hw.pins[pins["rcd_fault"]].level = 0
    hw.pins[pins["estop"]].level = 0
    for ch in ("ntc0_adc", "ntc1_adc"):
        hw.adc_source[pins[ch]] = lambda: 2048 << 4  # read_u16 of a mid-scale divider
    for name in CONTRACT:
        assert callable(getattr(hal, name)), name
    ctrl = Controller(hal, board, 0)
    assert ctrl.out_mode == m.PILOT_X1  # boot: nothing offered
    server = LinkServer(ctrl, board_name.encode(), hal.reset_reason(), 0, epoch=0)  # Hello: 1
    hal.uart.write(b"".join(server.data_to_send()))
    # the host says Hello and asks for PWM over the board's UART
    hw_uart = hal.uart._uart  # the fake machine.UART behind the HAL's link wrapper
    hw_uart.tx.clear()
    v = m.PROTOCOL_VERSION
    pwm = m.SetPilot(m.PILOT_PWM, 2666).encode(2, epoch=1, order=1)
    wire = frame.pack(m.HostHello(v, v, 1).encode(1)) + frame.pack(pwm)
    hw_uart.rx.extend(wire)
    seq = 2
    for t in range(10, 1200, 10):
        if t % 200 == 0:  # the host's heartbeat, so the link fail-safe stays quiet
            seq += 1
            hw_uart.rx.extend(frame.pack(m.Heartbeat(t).encode(seq)))
        run_cp_isrs(hw, port)
        ctrl.tick(t)
        hal.feed_wdt()
        data = hal.uart.read()
        if data:
            server.receive(data, t)
        server.poll(t)
        for chunk in server.data_to_send():
            hal.uart.write(chunk)
    assert ctrl.contactor == 0  # no EV, no lease: never closed
    from firmware.app import faults

    assert ctrl.latched == 0, faults.names(ctrl.latched)
    assert server.hello_done and ctrl.want_duty == 2666 and ctrl.out_mode == m.PILOT_PWM
    replies = frame.FrameReader()
    replies.feed(bytes(hw_uart.tx))
    kinds = []
    while (p := replies.next_payload()) is not None:
        kinds.append(type(m.decode(p)[1]).__name__)
    assert "FirmwareHello" in kinds and "Ack" in kinds and "Telemetry" in kinds, kinds


@pytest.mark.parametrize(("port", "board_name"), [("rp2", "rp2040"), ("esp32", "esp32s3"),
                                                   ("stm32", "stm32")])
def test_unwired_inputs_fail_safe(fake_port: Any, port: str, board_name: str) -> None:
    """Pulled-up inputs with nothing connected read as E-stop and RCD fault, an empty NTC
    input as a broken sensor: the firmware must treat a loose carrier as unsafe."""
    fake_port(port)
    board = boards.load(board_name)
    hal = main.make_hal(board)
    ctrl = Controller(hal, board, 0)
    for t in range(10, 100, 10):
        ctrl.tick(t)
    from firmware.app import faults

    assert {"estop", "rcd-trip"} <= set(faults.names(ctrl.latched))
    assert ctrl.out_mode == ctrl.safe_pilot == m.PILOT_F
