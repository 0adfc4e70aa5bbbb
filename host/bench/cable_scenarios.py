"""Cable scenarios of `v2gate simulate`: the proximity pilot and the connector lock.

pp-fault    the cable's PP coding breaks open while the EV charges: F-070, the
            contactor opens (trigger -> open on the firmware clock, budget 50 ms)
lock-fault  the connector lock's feedback stops reading "locked" while the EV charges:
            the interlock "locked" opens the contactor in the tick, the lock is driven
            again and, still not locked after its retries, F-071
cable-13a   a 13 A cable (1.5 kOhm) in the socket while the host offers 32 A: the
            firmware caps the PWM offer and the lease limit at 13 A, and the EV draws 13 A
"""

from __future__ import annotations

from typing import Any

from host.bench.bench import Bench, run_bench, summarize
from host.bench.fault_scenarios import CHARGE_START_MS, _fault_scenario, serve_until
from host.bench.registry import register_many

CABLE_DA = 130  # the 1.5 kOhm coding: 13 A (IEC 61851-1 Table B.2)
HOST_OFFER_A = 32


async def cable_13a(runtime: str) -> dict[str, Any]:
    sim = {"plug_ms": CHARGE_START_MS, "charge_ms": 60000, "pp_ohms": 1500}

    def charging(b: Bench) -> bool:
        return sum(1 for r in b.records if r.get("event") == "telemetry" and r["current_a"] > 1) >= 3

    async def body(b: Bench) -> None:
        await serve_until(b, charging, 15, "--current", str(HOST_OFFER_A))

    bench, _ = await run_bench(runtime, sim, body)
    s = summarize(bench.records)
    statuses = [r for r in bench.records if r.get("event") == "status"]
    cables = [r for r in bench.records if r.get("event") == "cable"]
    drawn = [r["current_a"] for r in bench.records if r.get("event") == "telemetry"]
    pwm = [r["duty"] for r in statuses if r.get("pilot") == "pwm"]
    limits = [r["limit_a"] for r in statuses if r.get("limit_a")]
    peak = max(drawn, default=0.0)
    top_duty = max(pwm, default=0) / 100
    cap_a = CABLE_DA / 10
    rating = cables[-1]["rating_a"] if cables else None
    ok = (rating == cap_a and bool(pwm) and top_duty <= cap_a / 0.6 + 0.01
          and bool(limits) and max(limits) <= cap_a and cap_a - 1 <= peak <= cap_a + 0.2
          and not s["faults"])
    verdict = (f"host offered {HOST_OFFER_A} A; cable rated {rating} A by PP; firmware's PWM at most "
               f"{top_duty:.2f} % (limit {cap_a / 0.6:.2f} % = {cap_a} A), its limit at most "
               f"{max(limits, default=0.0)} A; the EV drew up to {peak:.1f} A; "
               f"{len(s['faults'])} fault(s)")
    return {"result": "pass" if ok else "fail", **s, "verdict": verdict, "cable_rating_a": rating,
            "host_offer_a": HOST_OFFER_A, "max_duty_percent": top_duty,
            "max_limit_a": max(limits, default=0.0), "peak_current_a": peak,
            "plant": bench.plant, "timeline": bench.records}


register_many({
    "pp-fault": (_fault_scenario("pp-fault", 70, {"pp_fault_ms": 2500, "charge_ms": 60000}, 50),
                 "the cable's PP coding breaks open while charging: F-070, open at once"),
    "lock-fault": (_fault_scenario("lock-lost", 71, {"lock_fail_ms": 2500, "charge_ms": 60000}, 50),
                   "the connector lock stops reading locked while charging: open, retries, F-071"),
    "cable-13a": (cable_13a, "a 13 A cable caps the host's 32 A offer and the lease"),
})
