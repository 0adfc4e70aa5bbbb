"""ISO 15118-20:2022 timers and fixed values, SECC and EVCC side. Where we could not read the
requirement text the value is "as implemented by" the iso15118 package
(shared/messages/iso15118_20/timeouts.py and shared/messages/enums.py, 0.31.2), like
iso2_constants.
"""

from __future__ import annotations

# --- SECC -------------------------------------------------------------------------------
COMMUNICATION_SETUP_TIMEOUT = 20.0  # V2G_SECC_CommunicationSetup_Timeout
SEQUENCE_TIMEOUT = 60.0  # V2G_SECC_Sequence_Timeout
# How long an EVSEProcessing=Ongoing phase may last before the SECC answers FAILED: the
# EVCC's own limits for it (V2G_EVCC_Ongoing_Timeout 60 s for Authorization and
# ScheduleExchange, V2G_EVCC_CableCheck_Timeout 40 s, V2G_EVCC_PreCharge_Timeout 10 s).
ONGOING_TIMEOUT = 60.0
CABLE_CHECK_TIMEOUT = 40.0
PRE_CHARGE_TIMEOUT = 10.0

# --- EVCC: V2G_EVCC_Msg_Timeout per request ---------------------------------------------
MSG_TIMEOUT = 2.0
SERVICE_DETAIL_TIMEOUT = 5.0
CERTIFICATE_INSTALLATION_TIMEOUT = 5.0
# DC_ChargeLoopReq / AC_ChargeLoopReq. FACTS.md had 0.25 s "-20 charge loop" marked as -2's
# CurrentDemand value; the iso15118 package has 0.5 s for -20 (DC_CHARGE_LOOP_REQ).
CHARGE_LOOP_TIMEOUT = 0.5

# --- fixed values -------------------------------------------------------------------------
SESSION_ID_LEN = 8
NEW_SESSION = bytes(SESSION_ID_LEN)
PRE_CHARGE_TOLERANCE = 20.0  # V, as -2
SAFE_VOLTAGE = 60.0  # V DC, IEC 61851-23
METER_ID = "V2GATE-METER-1"
MAX_SCHEDULE_TUPLES = 3  # ScheduleExchangeRes: 1..3 ScheduleTuple

# Service IDs, -20 Table 204 (8.4.3.1)
SERVICE_AC = 1
SERVICE_DC = 2
SERVICE_AC_BPT = 5
SERVICE_DC_BPT = 6
BPT_SERVICES = frozenset({SERVICE_AC_BPT, SERVICE_DC_BPT})
AC_SERVICES = frozenset({SERVICE_AC, SERVICE_AC_BPT})
ENERGY_SERVICES = frozenset({1, 2, 3, 4, 5, 6, 7})  # AC..DC_ACDP_BPT; we offer a subset

# Service parameters (-20 Tables 205-208), the values we use
CONTROL_SCHEDULED = 1
CONTROL_DYNAMIC = 2
MOBILITY_EVCC_ONLY = 1
MOBILITY_EVCC_AND_SECC = 2
DC_CONNECTOR_EXTENDED = 2
AC_CONNECTOR_THREE_PHASE = 2
PRICING_NONE = 0
PRICING_LEVELS = 2
BPT_CHANNEL_UNIFIED = 1
GENERATOR_GRID_FOLLOWING = 1
ISLANDING_PASSIVE = 2
