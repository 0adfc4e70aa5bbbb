"""Public entry points: bytes <-> messages <-> JSON shaped like the reference codec's."""

from __future__ import annotations

import base64
import binascii
import importlib
from types import ModuleType
from typing import Any

from host.exi import runtime as rt

# reference-codec namespace URN -> generated module under host.exi.schemas
MODULES = {
    "urn:iso:15118:2:2010:AppProtocol": "app_protocol",
    "urn:din:70121:2012:MsgDef": "din",
    "urn:iso:15118:2:2013:MsgDef": "iso2",
    "urn:iso:std:iso:15118:-20:CommonMessages": "iso20_common_messages",
    "urn:iso:std:iso:15118:-20:AC": "iso20_ac",
    "urn:iso:std:iso:15118:-20:DC": "iso20_dc",
    "urn:iso:std:iso:15118:-20:ACDP": "iso20_acdp",
    "urn:iso:std:iso:15118:-20:WPT": "iso20_wpt",
    "http://www.w3.org/2000/09/xmldsig#": "xmldsig",  # EXI fragments (SignedInfo)
}
# class-only modules and the codec their classes encode with when no namespace is given
_DEFAULT_CODEC = {"host.exi.schemas.xmldsig_types": "http://www.w3.org/2000/09/xmldsig#"}


class UnknownNamespaceError(rt.ExiError):
    pass


def schema_module(namespace: str) -> ModuleType:
    try:
        name = MODULES[namespace]
    except KeyError:
        raise UnknownNamespaceError(
            f"unknown namespace {namespace!r}; known: {', '.join(MODULES)}"
        ) from None
    return importlib.import_module(f"host.exi.schemas.{name}")


def _module_of(message: object, namespace: str | None) -> ModuleType:
    if namespace is not None:
        return schema_module(namespace)
    owner = type(message).__module__
    if owner in _DEFAULT_CODEC:
        return schema_module(_DEFAULT_CODEC[owner])
    module = importlib.import_module(owner)
    if getattr(module, "NAMESPACE", None) is None:
        raise rt.ExiEncodeError(
            f"{type(message).__name__} is shared by several schemas: pass namespace="
        )
    return module


def encode(message: object, namespace: str | None = None, *,
           fragment: bool | None = None) -> bytes:
    """EXI stream (header 0x80) for a message: a document, or with `fragment` an EXI
    fragment (what gets signed). By default, as the reference codec: fragments for xmldsig
    and for DIN / ISO 15118-2 elements other than V2G_Message, documents otherwise."""
    module = _module_of(message, namespace)
    if fragment is None:
        envelope = module.ELEMENT_CLASSES.get("V2G_Message")
        fragment = module.FRAGMENT_DEFAULT or (envelope is not None and type(message) is not envelope)
    encoders = module.FRAG_ENCODERS if fragment else module.DOC_ENCODERS
    try:
        code, encoder = encoders[type(message)]
    except KeyError:
        raise rt.ExiEncodeError(
            f"{type(message).__name__} is not a root element of {module.NAMESPACE}"
        ) from None
    width = module.FRAG_WIDTH if fragment else module.DOC_WIDTH
    w = rt.BitWriter()
    w.bits(8, rt.HEADER)
    w.bits(width, code)
    try:
        encoder(w, message)
    except (AttributeError, TypeError) as exc:  # a field holds the wrong kind of value
        raise rt.ExiEncodeError(f"{type(message).__name__}: {exc}") from exc
    if fragment:
        w.bits(width, module.FRAG_END)
    return w.getvalue()


def decode(namespace: str, data: bytes, *, fragment: bool | None = None,
           max_size: int | None = None) -> Any:
    """Message from an EXI document (or fragment: by default for xmldsig only).

    `max_size` refuses longer input before decoding any of it (the V2GTP reader passes its
    payload limit). Decoding takes time linear in the input either way, and lists the schema
    leaves unbounded stop at 1024 items (tools/exigen/grammar.py, UNBOUNDED_CAP)."""
    if max_size is not None and len(data) > max_size:
        raise rt.ExiDecodeError(0, f"{len(data)} bytes of EXI, more than the limit of "
                                f"{max_size}")
    module = schema_module(namespace)
    if fragment is None:
        fragment = module.FRAGMENT_DEFAULT
    r = rt.BitReader(data)
    header = r.bits(8)
    if header != rt.HEADER:
        raise rt.ExiDecodeError(0, f"EXI header {header:#04x}, expected 0x80 (no options)")
    width = module.FRAG_WIDTH if fragment else module.DOC_WIDTH
    roots = module.FRAG_DECODERS if fragment else module.DOC_DECODERS
    at = r.pos
    code = r.bits(width)
    entry = roots[code] if code < len(roots) else None
    if entry is None:
        raise rt.ExiDecodeError(at, f"element code {code} is not a supported root of "
                                f"{namespace}")
    decoder, cls = entry
    message = decoder(r, cls)
    if fragment:
        at = r.pos
        end = r.bits(width)
        if end != module.FRAG_END:
            raise rt.ExiDecodeError(at, f"expected ED (code {module.FRAG_END}) after the "
                                    f"fragment's element, got {end}: one element per fragment")
    # DocEnd holds only ED (0 bits); what follows is padding. Zero bytes past the boundary
    # are accepted as the reference codec does: one real car pads a DIN frame that way.
    rest = r.end - r.pos
    if rest and r.bits(rest):
        raise rt.ExiDecodeError(r.end - rest, "non-zero bits after the end of the document")
    return message


# ---- JSON ---------------------------------------------------------------------------
def to_json(message: object, namespace: str | None = None) -> dict:
    module = _module_of(message, namespace)
    names = {cls: name for name, cls in module.ELEMENT_CLASSES.items()}
    return {names[type(message)]: _object_to_json(message, module.JSON_FIELDS, names)}


def _object_to_json(obj: object, specs: dict, names: dict) -> dict:
    out: dict[str, Any] = {}
    for name, kind, _target, is_list, wrap in specs[type(obj)]:
        value = getattr(obj, name)
        if value is None or (is_list and not value):
            continue
        if kind == "subst":
            items = value if is_list else [value]
            for item in items:
                key = names[type(item)]
                conv = _object_to_json(item, specs, names)
                if is_list:
                    out.setdefault(key, []).append(conv)
                else:
                    out[key] = conv
            continue
        if is_list:
            out[name] = [_value_to_json(v, kind, specs, names) for v in value]
        else:
            conv = _value_to_json(value, kind, specs, names)
            out[name] = [conv] if wrap else conv
    return out


def _value_to_json(value: Any, kind: str, specs: dict, names: dict) -> Any:
    if kind == "hex":
        return value.hex().upper()
    if kind == "b64":
        return base64.b64encode(value).decode()
    if kind == "enum":
        return value.value
    if kind == "obj":
        return _object_to_json(value, specs, names)
    return value


def from_json(namespace: str, obj: dict) -> Any:
    module = schema_module(namespace)
    if len(obj) != 1:
        raise rt.ExiEncodeError(f"expected one root element, got {list(obj)}")
    (name, body), = obj.items()
    try:
        cls = module.ELEMENT_CLASSES[name]
    except KeyError:
        raise rt.ExiEncodeError(f"{name} is not a global element of {namespace}") from None
    return _object_from_json(cls, body, module)


def _object_from_json(cls: type, body: dict, module: ModuleType) -> Any:
    if not isinstance(body, dict):
        raise rt.ExiEncodeError(f"{cls.__name__}: expected an object, got {body!r}")
    kwargs: dict[str, Any] = {}
    left = dict(body)
    for name, kind, target, is_list, wrap in module.JSON_FIELDS[cls]:
        if kind == "subst":
            found = []
            for key in list(left):
                member = module.ELEMENT_CLASSES.get(key)
                if member is not None and issubclass(member, target):
                    items = left.pop(key)
                    for item in items if isinstance(items, list) else [items]:
                        found.append(_object_from_json(member, item, module))
            if found:
                kwargs[name] = found if is_list else found[0]
            continue
        if name not in left:
            continue
        raw = left.pop(name)
        if wrap and isinstance(raw, list):
            if len(raw) != 1:
                raise rt.ExiEncodeError(f"{cls.__name__}.{name}: expected one value, got {raw!r}")
            raw = raw[0]
        if is_list:
            raw_items = raw if isinstance(raw, list) else [raw]
            kwargs[name] = [_value_from_json(v, kind, target, module) for v in raw_items]
        else:
            kwargs[name] = _value_from_json(raw, kind, target, module)
    if left:
        raise rt.ExiEncodeError(f"{cls.__name__}: unknown fields {sorted(left)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise rt.ExiEncodeError(f"{cls.__name__}: {exc}") from exc


def _value_from_json(raw: Any, kind: str, target: Any, module: ModuleType) -> Any:
    try:
        if kind == "hex":
            return bytes.fromhex(raw)
        if kind == "b64":
            return base64.b64decode(raw, validate=True)
        if kind == "enum":
            return target(raw)
        if kind == "obj":
            return _object_from_json(target, raw, module)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise rt.ExiEncodeError(f"bad {kind} value {raw!r}: {exc}") from exc
    if kind == "int" and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise rt.ExiEncodeError(f"expected an integer, got {raw!r}")
    if kind == "bool" and not isinstance(raw, bool):
        raise rt.ExiEncodeError(f"expected a boolean, got {raw!r}")
    if kind == "str" and not isinstance(raw, str):
        raise rt.ExiEncodeError(f"expected a string, got {raw!r}")
    return raw


__all__ = ["MODULES", "decode", "encode", "from_json", "schema_module", "to_json"]
