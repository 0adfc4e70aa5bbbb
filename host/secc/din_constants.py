"""DIN SPEC 70121:2014 timers and fixed values, SECC and EVCC side, each with where it
comes from. DIN §9.6 has the timer tables; where we could not read the requirement text the
value is "as implemented by" the iso15118 package (shared/messages/din_spec/timeouts.py,
0.31.2) or as EVerest's libiso15118 cites the requirement.
"""

from __future__ import annotations

# --- SECC -------------------------------------------------------------------------------
# V2G_SECC_CommunicationSetup_Timeout: TCP accept -> SessionSetupReq (also host.v2g's
# constant; the machine continues the same deadline from ``connected_at``).
COMMUNICATION_SETUP_TIMEOUT = 20.0
# V2G_SECC_Sequence_Timeout: after a response, the next request must come within this
# (as implemented by iso15118: V2G_SECC_SEQUENCE_TIMEOUT = 60).
SEQUENCE_TIMEOUT = 60.0
# How long an EVSEProcessing=Ongoing phase may last before the SECC gives up. These are the
# EVCC's own limits for the phase (as implemented by iso15118: V2G_EVCC_CABLE_CHECK_TIMEOUT
# 40, V2G_EVCC_PRE_CHARGE_TIMEOUT 7; ContractAuthentication and ChargeParameterDiscovery
# under V2G_EVCC_Ongoing_Timeout 60, shared/messages/timeouts.py): past them the EV has
# stopped anyway, and the SECC answers FAILED rather than keep the stage energised.
CABLE_CHECK_TIMEOUT = 40.0
PRE_CHARGE_TIMEOUT = 7.0
ONGOING_TIMEOUT = 60.0

# --- EVCC: V2G_EVCC_Msg_Timeout per request (as implemented by iso15118) --------------------
MSG_TIMEOUT = 2.0
CURRENT_DEMAND_MSG_TIMEOUT = 0.25
# V2G_EVCC_CommunicationSetup_Timeout (20 s, as the SECC's) is the SAP + SessionSetup budget.

# --- fixed values -------------------------------------------------------------------------
# [V2G-DC-395] (as EVerest cites it): DIN offers and accepts ExternalPayment only (EIM).
# SessionID: hexBinary of 8 bytes; the EV sends zeros in SessionSetupReq to ask for a new one.
SESSION_ID_LEN = 8
NEW_SESSION = bytes(SESSION_ID_LEN)
CHARGE_SERVICE_ID = 1  # the one charge service of a DIN SECC
# PreCharge: the EV closes its contactors when the EVSE's present voltage is within this of
# its target (DIN leaves the figure to the EV; 20 V as iso15118's EV simulator uses).
PRE_CHARGE_TOLERANCE = 20.0
# Below this the EV considers the cable dead in WeldingDetection (IEC 61851-23: 60 V DC).
SAFE_VOLTAGE = 60.0
