"""The simulated DC charger (board name `sim-dc`): the sim board with DC hardware.

A contactor pair with aux contacts and a precharge relay, dc_link_v behind the
contactors, an isolation monitor with alarm and resistance reading and a power-stage
enable, all on the one DC plant model (firmware/sim/dcplant.py) the host's ISO 15118
DC sessions use. The AC contactor and the RCD are not there: the pair replaces the one,
the IMD the other (IEC 61851-23 protects the DC side by isolation monitoring).
"""

from boards.sim import BOARD as _SIM

BOARD = dict(_SIM)
BOARD["name"] = "sim-dc"
BOARD["rcd"] = {"present": False, "self_test": False, "no_reclose": False}
BOARD["rated_w"] = 50000
# a DC charger's cable is fixed to it (IEC 61851-23, case C): no PP coding to read, and
# no AC cable rating to cap the pair's current; the connector lock stays (the sim
# board's motor lock): IEC 61851-23 keeps the connector locked while it may be live
BOARD["pp"] = {"mode": "tethered", "rating_da": 320}
BOARD["dc"] = {
    "precharge_relay": True,
    "precharge_ms": 5000,  # the plant's stage ramps at 200 V/s: ~2 s to 400 V
    "precharge_tol_dv": 200,  # 20 V
    "weld_check_ms": 1000,  # IEC 61851-23: the output below 60 V within 1 s of opening
    "safe_dv": 600,
    "isolation_ms": 1000,  # the IMD's measuring time
    "rated_dv": 5000,  # the stage's maximum voltage: the ohm/V classes refer to it
    "imd_alarm_kohm": 0,  # the IMD's alarm contact alone decides, until SetConfig 72
}
