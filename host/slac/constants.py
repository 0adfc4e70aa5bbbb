"""ISO 15118-3 and HomePlug Green PHY constants, each with the clause it comes from.

Timers are in seconds. ISO 15118-3:2015 Annex A, Table A.1 lists the SLAC timers and
counters; HomePlug AV / Green PHY 1.1 (HPGP) §11 defines the MME framing and codes.
"""

from __future__ import annotations

# --- Ethernet / MME framing (HPGP §11.1) -------------------------------------------------
ETH_P_HOMEPLUG = 0x88E1  # HomePlug AV MME ethertype
ETH_P_ALL = 0x0003  # linux/if_ether.h: every protocol (sees outgoing frames too)
ETH_HEADER_LEN = 14
ETH_MIN_FRAME = 60  # minimum Ethernet frame without FCS; shorter MMEs are zero-padded
BROADCAST_MAC = b"\xff" * 6
MMV_HPAV_1_0 = 0x00  # vendor MMEs: no fragmentation field
MMV_HPAV_1_1 = 0x01  # HPGP MMEs: MMV, MMTYPE, FMSN, FMID

# MMTYPE low two bits (HPGP Table 11-3)
MMTYPE_REQ = 0x0
MMTYPE_CNF = 0x1
MMTYPE_IND = 0x2
MMTYPE_RSP = 0x3

# MMTYPE bases (ISO 15118-3 Table A.4 / HPGP Table 11-87); the low bits add REQ/CNF/IND/RSP
CM_SET_KEY = 0x6008
CM_SLAC_PARM = 0x6064
CM_START_ATTEN_CHAR = 0x6068
CM_ATTEN_CHAR = 0x606C
CM_MNBC_SOUND = 0x6074
CM_VALIDATE = 0x6078
CM_SLAC_MATCH = 0x607C
CM_ATTEN_PROFILE = 0x6084

# Qualcomm Atheros vendor MMEs (open-plc-utils `mme.h`; EVerest libslac `slac.hpp`)
QUALCOMM_OUI = b"\x00\xb0\x52"
VS_SW_VER = 0xA000
VS_RS_DEV = 0xA01C
VS_NW_INFO = 0xA038
VS_TONE_MAP_CHAR = 0xA070  # open-plc-utils mme.h; its ToneMaps2 reads the AR7x00 form
VS_PL_LNK_STATUS = 0xA0B8
VENDOR_MMTYPE_MIN = 0xA000  # HPGP Table 11-2: 0xA000-0xBFFF vendor specific
VENDOR_MMTYPE_MAX = 0xBFFF

# The QCA7000 answers its host at this local management address (pyslac, EVerest)
QCA_LOCAL_MAC = b"\x00\xb0\x52\x00\x00\x01"

# --- SLAC field values (ISO 15118-3 Annex A) ---------------------------------------------
APPLICATION_TYPE_PEV_EVSE = 0x00  # Table A.2: PEV-EVSE matching
SECURITY_TYPE_NONE = 0x00  # Table A.2: no security
RESP_TYPE_OTHER_GP_STA = 0x01  # Table A.3: results go to the forwarding station (the EV host)
RUN_ID_LEN = 8  # Table A.2
STATION_ID_LEN = 17  # Table A.4: SenderID / SOURCE_ID / RESP_ID / PEV_ID / EVSE_ID
NUM_GROUPS = 58  # Table A.4: AAG groups of the attenuation profile
NID_LEN = 7  # HPGP §4.4.3.1
NMK_LEN = 16  # HPGP §4.4.3.1 (AES-128)
MATCH_REQ_MVF_LENGTH = 0x3E  # Table A.7: MatchVarField length of CM_SLAC_MATCH.REQ
MATCH_CNF_MVF_LENGTH = 0x56  # Table A.7: MatchVarField length of CM_SLAC_MATCH.CNF

# CM_SET_KEY (ISO 15118-3 Table A.8, HPGP §11.5.4)
KEY_TYPE_NMK = 0x01
PID_HLE = 0x04
NEW_EKS_NMK = 0x01
# CM_SET_KEY.CNF Result: HomePlug GP / AV 1.1 (HPGP §11.5.5) say 0x00 is success, but QCA7000/7005
# firmware follows HomePlug AV 1.0 and answers 0x01 on success (Qualcomm in qca/open-plc-utils
# issue #161; EVerest's libslac `RESULT_MODEM_COMPAT_SUCCESS = 0x01`, and its review of
# EVerest/EVerest PR #2324 keeps accepting both). So both mean success unless narrowed.
SET_KEY_RESULT_SUCCESS = 0x00  # HPGP §11.5.5
SET_KEY_RESULT_SUCCESS_QCA = 0x01  # HomePlug AV 1.0, what QCA7000/7005 modems send
SET_KEY_SUCCESS_RESULTS = frozenset({SET_KEY_RESULT_SUCCESS, SET_KEY_RESULT_SUCCESS_QCA})

# CM_VALIDATE result codes (ISO 15118-3 Table A.6)
VALIDATE_NOT_READY = 0x00
VALIDATE_READY = 0x01
VALIDATE_SUCCESS = 0x02
VALIDATE_FAILURE = 0x03
VALIDATE_NOT_REQUIRED = 0x04
VALIDATE_SIGNAL_S2_TOGGLES = 0x00  # Table A.6 SignalType: the EV toggles S2 (CP B <-> C)

# Tone-map modulation codes (a nibble per carrier in VS_TONE_MAP_CHAR.CNF) -> bits per carrier,
# and the SNR in dB each modulation needs, as open-plc-utils' ToneMaps2 / SignalToNoise2 map
# them (0 unused, BPSK, QPSK, 8-QAM, 16-QAM, 64-QAM, 256-QAM, 1024-QAM, 4096-QAM).
MODULATION_BITS = (0, 1, 2, 3, 4, 6, 8, 10, 12)
MODULATION_DB = (0, 2, 4, 7, 10, 16, 22, 28, 36)

# Qualcomm link status (VS_PL_LNK_STATUS.CNF byte after the reserved byte)
LINK_STATUS_UP = 0x01

# --- Timers and counters (ISO 15118-3 Table A.1) -----------------------------------------
# The same values as EVerest's libslac (everest-core lib/everest/slac, TT_MATCH_RESPONSE_MS 200,
# TT_MATCH_SEQUENCE_MS 400, TT_EV_ATTEN_RESULTS_MS 1200, TT_MATCH_JOIN_MS 12000 ...).
TT_EVSE_SLAC_INIT = 50.0  # 20-50 s: wait for CM_SLAC_PARM.REQ after state B / 5 % PWM
TT_MATCH_SEQUENCE = 0.4  # gap allowed between messages of one sequence
TT_MATCH_RESPONSE = 0.2  # wait for the answer to a request
TT_EVSE_MATCH_MNBC = 0.6  # EVSE window for the sounds after CM_START_ATTEN_CHAR.IND
TT_EV_ATTEN_RESULTS = 1.2  # EV wait for CM_ATTEN_CHAR.IND after sounding starts
TT_EVSE_MATCH_SESSION = 10.0  # EVSE wait for CM_SLAC_MATCH.REQ after CM_ATTEN_CHAR
TT_MATCH_JOIN = 12.0  # max time from the match to the joined logical network
TT_MATCHING_REPETITION = 10.0  # EV: keep starting new runs for this long before giving up
TT_MATCHING_RATE = 0.4  # EV: pause between a failed run and the next
TP_EV_BATCH_MSG_INTERVAL = 0.02  # 20-50 ms between START_ATTEN_CHAR / MNBC_SOUND messages
C_EV_START_ATTEN_CHAR_INDS = 3
C_EV_MATCH_MNBC = 10  # sounds per run
C_EV_MATCH_RETRY = 2  # EV repetitions of an unanswered request
# Validation (§A.9.4, optional): the EV toggles B->C->B 1-3 times, each state 200-400 ms, in
# the window it announces in the second CM_VALIDATE.REQ's Timer field: (Timer + 1) x 100 ms
# (0x00 = 100 ms, 0x01 = 200 ms ...), at most TT_EVSE_vald_toggle
TP_EV_VALD_STATE_DURATION = 0.3  # 200-400 ms; the middle, so a slow CP debounce still sees it
C_EV_VALD_NB_TOGGLES_MAX = 3  # 1-3
TT_EVSE_VALD_TOGGLE = 3.5  # longest toggle window the EVSE accepts
VALD_TIMER_UNIT = 0.1
C_SEQU_RETRY = 2  # EVSE repetitions of an unanswered CM_ATTEN_CHAR.IND
TIME_OUT_UNIT = 0.1  # CM_SLAC_PARM.CNF / CM_START_ATTEN_CHAR Time_Out counts 100 ms units

# --- Local choices (not from the standard) -----------------------------------------------
MODEM_TIMEOUT = 1.0  # wait for the local modem to confirm CM_SET_KEY or a vendor request
MODEM_RETRIES = 2  # repetitions of an unanswered modem request
LINK_POLL_INTERVAL = 0.05  # link-status poll period while joining
DEFAULT_ATTENUATION_THRESHOLD_DB = 40.0  # above this average neither side matches
