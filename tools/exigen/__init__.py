"""EXI codec generator: XSDs in, typed Python codecs (host/exi/schemas/) out."""

VERSION = "1.0.0"
