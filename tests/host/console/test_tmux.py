"""`v2gate console --sim` in a real terminal (tmux): the EV plugs in, charges, and an
injected RCD trip shows F-030; the latch clears, the sim board reboots and comes back;
the recorded session replays."""

from __future__ import annotations

import re
import subprocess

from tests.host.console.conftest import Tmux, v2gate


def _line(screen: str, start: str) -> str:
    return next((ln for ln in screen.splitlines() if ln.startswith(start)), "")


def test_console_sim_plug_in_charge_and_rcd_trip(tmux: Tmux) -> None:
    log = tmux.tmp / "session.jsonl"
    tmux.start(v2gate("console", "--sim", "--log", str(log)))
    # the sim EV plugs in 2.5 s after boot: the panel goes from A to B
    tmux.wait_for(lambda s: _line(s, "CP A").startswith("CP A") or "CP B" in s, "CP state A")
    screen = tmux.wait_for(lambda s: _line(s, "CP ").startswith("CP B"), "CP state B after the plug-in")
    assert "CpStateChanged old=A new=B" in screen
    assert "link UP" in screen
    tmux.type("pilot pwm 26.7")
    tmux.wait_for(lambda s: _line(s, "CP ").startswith("CP C  pilot pwm 26.70%"), "CP state C")
    tmux.type("grant 16")
    screen = tmux.wait_for(lambda s: "contactor CLOSED" in _line(s, "CP "), "the contactor closing")
    assert _line(screen, "faults active:") == "faults active: none"
    tmux.type("inject rcd")
    # F-030 reaches the screen within a tick of the trip; the deadline is only generous
    screen = tmux.wait_for(lambda s: "F-030 rcd-trip" in _line(s, "faults active:"), "F-030")
    assert "F-030 rcd-trip" in _line(screen, "faults latched:")
    screen = tmux.wait_for(lambda s: "contactor open" in _line(s, "CP "), "the contactor opening")
    assert _line(screen, "CP ").startswith("CP F  pilot F")  # the fail-safe pilot
    # the cause gone, the operator clears the latch
    tmux.type("inject heal")
    tmux.type("clear")
    tmux.wait_for(lambda s: _line(s, "faults latched:").startswith("faults latched: none"), "the latch cleared")
    # a reboot of the sim board ends its process: the console starts it again
    tmux.type("reset")
    def up_again(screen: str) -> bool:
        lines = screen.splitlines()
        rebooted = [n for n, ln in enumerate(lines) if "sim board rebooted: firmware started again" in ln]
        return bool(rebooted) and any("link up: board sim" in ln for ln in lines[rebooted[-1]:])

    tmux.wait_for(up_again, "the reboot and the link up again")
    # the new boot starts afresh: no fault replayed, the EV plugs in again
    screen = tmux.wait_for(lambda s: _line(s, "CP ").startswith("CP B"), "CP state B after the reboot")
    assert _line(screen, "faults latched:").startswith("faults latched: none")
    # a typo at the prompt is one line of advice, and the console carries on
    tmux.type("set grid_phase_mrad 5000")
    tmux.wait_for(lambda s: "set grid_phase_mrad: 5000 is out of range 1..1000" in s, "the range check")
    tmux.type("quit")
    tmux.wait_for(lambda s: tmux.pane_dead(), "the console ending")

    replay = subprocess.run(v2gate("console", "--replay", str(log)), capture_output=True, text=True,
                            timeout=30, check=False)
    assert replay.returncode == 0, replay.stderr
    out = replay.stdout
    assert re.search(r"rx CpStateChanged old=A new=B", out)
    assert "> inject rcd" in out and "rx Fault code=F-030 rcd-trip" in out
    assert "> reset" in out and "sim board rebooted" in out
    panel = out.split("-" * 40)[-1]  # the final panel: after the clear and the reboot
    assert "faults latched: none" in panel and "CP B" in panel
