"""The CSMS's smart-charging requests (K01, K08, K09, K10) for a StationConnection with a
``SmartCharging``: Set/Clear/GetChargingProfiles and GetCompositeSchedule. Without one the
machine leaves them NotSupported."""

from __future__ import annotations

from typing import Any

from .messages import (
    ClearChargingProfileRequest,
    GetChargingProfilesRequest,
    GetCompositeScheduleRequest,
    SetChargingProfileRequest,
)
from .smartcharging import Rejected, SmartCharging


def routes(conn: Any, smart: SmartCharging) -> dict:
    """The four routes, for ``conn.add_routes`` (or the machine's own table)."""
    from .machine import Route  # the machine registers these routes itself

    def on_set(req: SetChargingProfileRequest, now: float) -> dict:
        try:
            smart.set_profile(req.evse_id, req.profile)
        except Rejected as e:
            return {"status": "Rejected",
                    "statusInfo": {"reasonCode": e.reason, "additionalInfo": e.info[:512]}}  # fmt: skip
        conn.publish_limits(now)
        return {"status": "Accepted"}

    def on_clear(req: ClearChargingProfileRequest, now: float) -> dict:
        cleared = smart.clear(req.profile_id, req.evse_id, req.purpose, req.stack_level)
        conn.publish_limits(now)
        return {"status": "Accepted" if cleared else "Unknown"}

    def on_get(req: GetChargingProfilesRequest, now: float) -> dict:
        """K09: answer, then report in ReportChargingProfiles, one per EVSE and source
        (each request carries one evseId and one chargingLimitSource), tbc on all but
        the last; the reports go out after this answer."""
        found = smart.matching(req.evse_id, ids=req.ids, purpose=req.purpose,
                               stack_level=req.stack_level, sources=req.sources)  # fmt: skip
        if not found:
            return {"status": "NoProfiles"}
        groups: dict[tuple[int, str], list[dict]] = {}
        for p in found:
            groups.setdefault((p.evse_id, p.source), []).append(p.raw)
        for n, ((evse_id, source), profiles) in enumerate(sorted(groups.items())):
            report = {"requestId": req.request_id, "chargingLimitSource": source,
                      "evseId": evse_id, "chargingProfile": profiles}  # fmt: skip
            if n + 1 < len(groups):
                report["tbc"] = True
            conn.call("ReportChargingProfiles", report, now)
        return {"status": "Accepted"}

    def on_composite(req: GetCompositeScheduleRequest, now: float) -> dict:
        assert conn.version is not None  # requests arrive on a connection only
        if req.evse_id != 0 and req.evse_id not in smart.evses:
            return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEVSE"}}
        unit = req.unit or "W"  # the request leaves it to us when absent
        schedule = smart.composite_json(req.evse_id, now, req.duration, unit, conn.version)
        return {"status": "Accepted", "schedule": schedule}

    return {"SetChargingProfile": Route(SetChargingProfileRequest.from_json, on_set),
            "ClearChargingProfile": Route(ClearChargingProfileRequest.from_json, on_clear),
            "GetChargingProfiles": Route(GetChargingProfilesRequest.from_json, on_get),
            "GetCompositeSchedule": Route(GetCompositeScheduleRequest.from_json,
                                          on_composite)}  # fmt: skip
