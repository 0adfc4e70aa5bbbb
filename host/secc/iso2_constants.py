"""ISO 15118-2:2014 timers and fixed values, SECC and EVCC side. Table 109/110 of -2 have the
timers; where we could not read the requirement text the value is "as implemented by" the
iso15118 package (shared/messages/timeouts.py, 0.31.2), like din_constants.
"""

from __future__ import annotations

# --- SECC -------------------------------------------------------------------------------
COMMUNICATION_SETUP_TIMEOUT = 20.0  # V2G_SECC_CommunicationSetup_Timeout
SEQUENCE_TIMEOUT = 60.0  # V2G_SECC_Sequence_Timeout
# How long an EVSEProcessing=Ongoing phase may last before the SECC answers FAILED: the
# EVCC's own limits (V2G_EVCC_Ongoing_Timeout 60 s for Authorization and
# ChargeParameterDiscovery, V2G_EVCC_CableCheck_Timeout 40 s, V2G_EVCC_PreCharge_Timeout 7 s).
ONGOING_TIMEOUT = 60.0
CABLE_CHECK_TIMEOUT = 40.0
PRE_CHARGE_TIMEOUT = 7.0

# --- EVCC: V2G_EVCC_Msg_Timeout (Table 109) --------------------------------------------------
MSG_TIMEOUT = 2.0
CHARGING_LOOP_MSG_TIMEOUT = 0.25  # CurrentDemand and ChargingStatus

# --- fixed values -------------------------------------------------------------------------
SESSION_ID_LEN = 8
NEW_SESSION = bytes(SESSION_ID_LEN)  # SessionSetupReq with zeros asks for a new session
CHARGE_SERVICE_ID = 1  # the charge service's ServiceID
PRE_CHARGE_TOLERANCE = 20.0  # V, as din_constants
SAFE_VOLTAGE = 60.0  # V DC, IEC 61851-23
METER_ID = "V2GATE-METER-1"
