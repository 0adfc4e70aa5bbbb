"""The veth fixture of the transport tests, for the interop test here."""

from tests.host.v2g.conftest import veth  # noqa: F401
