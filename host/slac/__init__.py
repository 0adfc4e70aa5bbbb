"""SLAC over HomePlug Green PHY (ISO 15118-3): codecs, sans-I/O machines, raw-socket driver."""
