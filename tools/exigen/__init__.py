"""EXI codec generator: XSDs in, typed Python codecs (host/exi/schemas/) out."""

VERSION = "1.1.0"  # 1.1: XSD facets checked, unbounded lists capped
