"""ISO 15118 transport below the session machines: V2GTP framing, SDP (SECC discovery),
SupportedAppProtocol negotiation, and the TCP/TLS server that runs one session per
connection. Sans-I/O cores with thin asyncio drivers; see README.md in this folder."""
