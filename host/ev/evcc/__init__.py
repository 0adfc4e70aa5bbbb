"""The EV side of ISO 15118 (DIN 70121 now): sans-I/O machines and their asyncio driver,
used by the tests against our SECC and by ``simulate``."""
