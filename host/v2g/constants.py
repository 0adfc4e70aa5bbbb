"""V2GTP, SDP and TLS constants, each with the clause it comes from.

ISO 15118-2:2014 (-2), DIN SPEC 70121:2014 (DIN) and ISO 15118-20:2022 (-20). Where a number
was checked against an open implementation, the comment names it.
"""

from __future__ import annotations

# --- V2GTP (-2 §7.8.3, Table 9 header, Table 10 payload types) --------------------------
V2GTP_VERSION = 0x01
V2GTP_INVERSE_VERSION = 0xFE
V2GTP_HEADER_LEN = 8
# The header allows 2**32-1 bytes; no V2G message comes near that. A SECC with a 4 GiB
# buffer per connection is a denial of service, so the reader refuses anything larger
# than this before allocating (configurable per reader). The biggest real message is a
# CertificateInstallationRes with four chains, well under 16 KiB.
V2GTP_DEFAULT_MAX_PAYLOAD = 64 * 1024

# --- SDP (-2 §7.10.1) --------------------------------------------------------------------
SDP_PORT = 15118  # -2 Table 15 / [V2G2-125]; DIN [V2G-DC-159]: the SDP server's UDP port
SDP_MULTICAST = "ff02::1"  # [V2G2-139]: the EVCC sends to the link-local all-nodes group
SDP_REQ_PAYLOAD_LEN = 2  # security + transport
SDP_RES_PAYLOAD_LEN = 20  # address 16 + port 2 + security + transport
SECURITY_TLS = 0x00  # -2 Table 13
SECURITY_NO_TLS = 0x10
TRANSPORT_TCP = 0x00
TRANSPORT_UDP = 0x10  # reserved in -2; decoded so a request with it is counted, not crashed on
# EVCC side: wait TT_SDP_Timeout for a response, then resend, at most
# V2G_EVCC_SDP_Request_Counter requests in all ([V2G2-157], [V2G2-160], [V2G2-161]; 250 ms
# and 50 as the iso15118 package has them: shared/messages/timeouts.py SDP_REQ = 0.25,
# evcc/comm_session_handler.py SDP_MAX_REQUEST_COUNTER = 50).
SDP_RESPONSE_TIMEOUT = 0.25
SDP_MAX_REQUESTS = 50

# --- TCP / TLS (-2 §7.7) -----------------------------------------------------------------
# [V2G2-077]/[V2G2-124] (as EVerest's libiso15118 cites them): ports from the dynamic range
DYNAMIC_PORT_MIN = 49152
DYNAMIC_PORT_MAX = 65535
# [V2G2-067] TLS 1.2; [V2G2-068] the SECC is the TLS server; [V2G2-602] Table 7: the SECC
# supports both suites (OpenSSL names). Python's ssl (OpenSSL 3) offers no static-ECDH
# suites any more, so only the ECDHE one can actually be negotiated.
TLS12_CIPHERS = "ECDHE-ECDSA-AES128-SHA256:ECDH-ECDSA-AES128-SHA256"
TLS_CURVE = "prime256v1"  # secp256r1, [V2G2-006]/[V2G2-007]
# The operators' interconnection manual: a TLS handshake slower than this (from the TCP
# accept) is logged as ISO-15118-403; the connection stays up.
TLS_SLOW_HANDSHAKE = 0.250
TLS_SLOW_HANDSHAKE_CODE = "ISO-15118-403"

# --- timers before the session machines take over (-2 Table 109) -------------------------
# V2G_SECC_CommunicationSetup_Timeout: from the TCP connection to SessionSetupReq. The SECC
# closes the connection when it runs out; nothing earlier (a slow TLS handshake included).
COMMUNICATION_SETUP_TIMEOUT = 20.0
# V2G_EVCC_Msg_Timeout for supportedAppProtocolReq (the EVCC waits 2 s for the response).
SAP_RESPONSE_TIMEOUT = 2.0
