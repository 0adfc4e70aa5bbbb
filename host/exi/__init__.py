"""EXI codecs for SupportedAppProtocol, DIN 70121, ISO 15118-2 and ISO 15118-20.

Generated from the schemas by tools/exigen; byte-exact with the reference codec
(EXIficient in the `iso15118` package's EXICodec.jar). `namespace` is the schema URN.
"""

from host.exi.codec import MODULES, decode, encode, from_json, schema_module, to_json
from host.exi.runtime import ExiDecodeError, ExiEncodeError, ExiError

__all__ = ["MODULES", "ExiDecodeError", "ExiEncodeError", "ExiError", "decode", "encode",
           "from_json", "schema_module", "to_json"]
