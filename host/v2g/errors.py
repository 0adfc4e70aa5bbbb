"""Errors of the V2G transport layer (h2 style: the machine moves to its terminal state
first, then raises; a remote error carries the reason the connection is closed for)."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every V2G transport error."""


class LocalProtocolError(ProtocolError):
    """We used the API wrongly (fed a closed reader, framed a payload that cannot fit)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the format; ``code`` names what was wrong (a counter key and the
    close reason in the log)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(ValueError):
    """A setting cannot work (port outside the dynamic range, no such interface)."""
