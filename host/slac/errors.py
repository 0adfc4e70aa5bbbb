"""SLAC errors: protocol misuse and peer violations (sans-I/O), and driver/modem failures."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every SLAC protocol error."""


class LocalProtocolError(ProtocolError):
    """We used the API wrongly (for example, fed events to a finished machine)."""


class RemoteProtocolError(ProtocolError):
    """The peer (or the modem) broke the format; ``code`` names what was wrong."""

    def __init__(self, message: str, code: str = "MALFORMED_MME") -> None:
        super().__init__(message)
        self.code = code


class NeedMoreData(RemoteProtocolError):
    """The input ended before the message did (only a reader's ``None`` escapes)."""

    def __init__(self, message: str = "truncated MME") -> None:
        super().__init__(message, code="TRUNCATED")


class DriverError(Exception):
    """The raw-socket driver or the modem cannot do its job; the text says how to fix it."""


class InterfaceNotFound(DriverError):
    pass


class RawSocketNotPermitted(DriverError):
    pass


class ModemNotAnswering(DriverError):
    pass


class ModemVersionUnreadable(DriverError):
    pass
