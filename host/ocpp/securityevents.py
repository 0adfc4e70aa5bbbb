"""Security events (OCPP 2.0.1 Part 2 A04 and Appendix 1 "Security Events"; the same list
in 2.1): what the station raises, and the SecurityEventNotification it sends.

Names checked against the `ocpp` package's ``v201.enums.SecurityEventType`` (built from the
appendix). Which ones are critical is taken from the OCPP 1.6 security whitepaper's table as
a peer implementation carries it (*verify* against the 2.0.1 appendix): A04 asks the station
to send the critical ones; the others go to its security log. Local choice: the station
sends every event it raises, critical or not (a refused password is what an operator wants
to see), and keeps each on disk until the CSMS acknowledges it (``TxQueue.enqueue``), so a
reset or an outage loses none and they arrive in the order they happened.

Where the station raises them:
- FailedToAuthenticateAtCsms: HTTP 401 at the upgrade, or the CSMS refused our client
  certificate during the handshake (driver);
- InvalidCsmsCertificate: the CSMS's certificate failed verification (driver);
- InvalidChargingStationCertificate: our own client certificate is expired or not yet valid
  before connecting (driver);
- InvalidTLSVersion: the CSMS offered only TLS below 1.2 (driver);
- ResetOrReboot: a Reset was accepted (machine);
- ReconfigurationOfSecurityParameters: SetVariables changed a SecurityCtrlr variable
  (machine).
Not raised yet: StartupOfTheDevice (the orchestrator that starts the station is to call
``StationConnection.security_event`` once at start); the station cannot detect these yet:
FirmwareUpdated, SettingSystemTime,
SecurityLogWasCleared, MemoryExhaustion, InvalidMessages, AttemptedReplayAttacks,
TamperDetectionActivated, InvalidFirmwareSignature, InvalidFirmwareSigningCertificate,
CsmsFailedToAuthenticate, InvalidTLSCipherSuite.
"""

from __future__ import annotations

from .store import iso_time

CRITICAL = frozenset({
    "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot",
    "SecurityLogWasCleared", "MemoryExhaustion", "TamperDetectionActivated",
})  # fmt: skip
KNOWN = CRITICAL | {
    "FailedToAuthenticateAtCsms", "CsmsFailedToAuthenticate",
    "ReconfigurationOfSecurityParameters", "InvalidMessages", "AttemptedReplayAttacks",
    "InvalidFirmwareSignature", "InvalidFirmwareSigningCertificate", "InvalidCsmsCertificate",
    "InvalidChargingStationCertificate", "InvalidTLSVersion", "InvalidTLSCipherSuite",
}  # fmt: skip
TECH_INFO_MAX = 255  # SecurityEventNotificationRequest.techInfo maxLength (2.0.1 and 2.1)


def notification(kind: str, now: float, tech_info: str = "") -> dict:
    """The SecurityEventNotificationRequest payload; ``kind`` must be one of ``KNOWN``."""
    if kind not in KNOWN:
        raise ValueError(f"unknown security event {kind!r}")
    payload = {"type": kind, "timestamp": iso_time(now)}
    if tech_info:
        payload["techInfo"] = tech_info[:TECH_INFO_MAX]
    return payload
