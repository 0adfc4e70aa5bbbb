"""Just enough XML Schema to build EXI grammars for the ISO 15118 schema sets.

Reads a root XSD and everything it imports or includes, and resolves it into element
declarations, complex types (content particles, attribute uses) and simple types reduced to
an EXI datatype (EXI 1.0 §7.1). Constructs the ISO 15118 schemas do not use (xs:all,
xs:list, unions, redefine) are rejected with a clear error rather than guessed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

XS = "http://www.w3.org/2001/XMLSchema"
QName = tuple[str, str]  # (namespace URI, local name)

# Value spaces of the built-in integer types (XML Schema part 2 §3.3).
_INT_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}
# facets the generated codecs check (enumerations become EXI enumerations)
_FACETS = {"enumeration", "minInclusive", "maxInclusive", "length", "minLength", "maxLength"}
_STRINGS = {"string", "anyURI", "ID", "IDREF", "NCName", "token", "normalizedString", "Name",
            "NMTOKEN", "language"}


class SchemaError(Exception):
    """The schema uses a construct this generator does not implement."""


@dataclass
class SimpleType:
    """A simple type reduced to its EXI representation (EXI 1.0 §7.1, Table 7-1)."""

    name: str
    kind: str  # bool | string | hex | b64 | uint | sint | nbit | enum
    ns: str = XS
    nbits: int = 0  # nbit / enum width
    offset: int = 0  # nbit lower bound
    enum: tuple[str, ...] = ()
    lo: int | None = None  # integer value range (xs:minInclusive / xs:maxInclusive, built-ins)
    hi: int | None = None
    min_len: int = 0  # xs:length / minLength / maxLength: characters, or octets of binaries
    max_len: int | None = None


@dataclass
class ElementDecl:
    qname: QName
    type: ComplexType | SimpleType | None = None
    type_ref: QName | None = None
    abstract: bool = False
    subst_head: QName | None = None
    is_global: bool = False


@dataclass
class Wildcard:
    namespace: str


@dataclass
class Group:
    kind: str  # sequence | choice
    particles: list[Particle]


@dataclass
class Particle:
    min: int
    max: int | None  # None = unbounded
    term: ElementDecl | Group | Wildcard


@dataclass
class AttributeUse:
    qname: QName
    type: SimpleType
    required: bool


@dataclass
class ComplexType:
    qname: QName
    abstract: bool = False
    mixed: bool = False
    base: QName | None = None
    attributes: list[AttributeUse] = field(default_factory=list)
    content: Particle | None = None  # element content
    simple: SimpleType | None = None  # simple content
    resolved: bool = False


@dataclass
class SchemaSet:
    files: list[Path]
    elements: dict[QName, ElementDecl]
    complex_types: dict[QName, ComplexType]
    simple_types: dict[QName, SimpleType]

    def substitutes(self, head: ElementDecl) -> list[ElementDecl]:
        """Head and every element in its substitution group, transitively.

        Abstract ones stay: the reference codec gives them event codes too (ISO 15118-2's
        abstract BodyElement takes code 2 in BodyType, so SessionSetupReq is 29).
        """
        found = [head]
        for decl in found:
            found.extend(e for e in self.elements.values() if e.subst_head == decl.qname)
        return found


def _tag(node: ET.Element) -> str:
    return node.tag.rpartition("}")[2] if node.tag.startswith("{" + XS + "}") else ""


def _nbits(count: int) -> int:
    return (count - 1).bit_length() if count > 1 else 0


class _Loader:
    def __init__(self) -> None:
        self.files: list[Path] = []
        self.elements: dict[QName, ElementDecl] = {}
        self.complex_raw: dict[QName, tuple[ET.Element, dict[str, str], str, str]] = {}
        self.simple_raw: dict[QName, tuple[ET.Element, dict[str, str], str]] = {}
        self.complex: dict[QName, ComplexType] = {}
        self.simple: dict[QName, SimpleType] = {}
        self.anon = 0

    # ---- reading files -------------------------------------------------------------
    def load(self, path: Path) -> None:
        path = path.resolve()
        if path in self.files:
            return
        self.files.append(path)
        nsmap: dict[str, str] = {}
        root = None
        for event, item in ET.iterparse(path, events=("start-ns", "start")):
            if event == "start-ns":
                prefix, uri = item  # type: ignore[misc]
                nsmap.setdefault(prefix, uri)
            elif root is None:
                root = item
        assert root is not None
        tns = root.get("targetNamespace", "")
        efd = root.get("elementFormDefault", "unqualified")
        afd = root.get("attributeFormDefault", "unqualified")
        ctx = (nsmap, tns, efd, afd)
        for child in root:
            tag = _tag(child)
            if tag in ("import", "include"):
                if child.get("schemaLocation"):
                    self.load(_locate(path.parent, child.get("schemaLocation", "")))
            elif tag == "element":
                decl = self.element(child, ctx, is_global=True)
                if decl.qname in self.elements:  # a forward reference already holds it
                    self.elements[decl.qname].__dict__.update(decl.__dict__)
                else:
                    self.elements[decl.qname] = decl
            elif tag == "complexType":
                self.complex_raw[(tns, child.get("name", ""))] = (child, nsmap, tns, efd + " " + afd)
            elif tag == "simpleType":
                self.simple_raw[(tns, child.get("name", ""))] = (child, nsmap, tns)
            elif tag in ("annotation", ""):
                continue
            elif tag in ("attribute", "group", "attributeGroup", "redefine", "notation"):
                raise SchemaError(f"{path.name}: top-level xs:{tag} is not supported")

    @staticmethod
    def qref(text: str, nsmap: dict[str, str]) -> QName:
        prefix, _, local = text.rpartition(":")
        return (nsmap.get(prefix, ""), local)

    # ---- declarations --------------------------------------------------------------
    def element(self, node: ET.Element, ctx: tuple, is_global: bool) -> ElementDecl:
        nsmap, tns, efd, _ = ctx
        ns = tns if (is_global or efd == "qualified" or node.get("form") == "qualified") else ""
        decl = ElementDecl(qname=(ns, node.get("name", "")), is_global=is_global)
        decl.abstract = node.get("abstract") == "true"
        if node.get("substitutionGroup"):
            decl.subst_head = self.qref(node.get("substitutionGroup", ""), nsmap)
        if node.get("type"):
            decl.type_ref = self.qref(node.get("type", ""), nsmap)
        else:
            for child in node:
                if _tag(child) == "complexType":
                    self.anon += 1
                    name = (tns, decl.qname[1] if is_global else f"{decl.qname[1]}_{self.anon}")
                    self.complex_raw[name] = (child, nsmap, tns, f"{efd} {ctx[3]}")
                    decl.type_ref = name
                elif _tag(child) == "simpleType":
                    decl.type = self.simple_type(child, nsmap, tns, decl.qname[1] + "Type")
        if decl.type is None and decl.type_ref is None:
            decl.type_ref = (XS, "anyType")
        return decl

    def particle(self, node: ET.Element, ctx: tuple) -> Particle:
        lo = int(node.get("minOccurs", "1"))
        hi_text = node.get("maxOccurs", "1")
        hi = None if hi_text == "unbounded" else int(hi_text)
        tag = _tag(node)
        term: ElementDecl | Group | Wildcard
        if tag == "element":
            if node.get("ref"):
                term = self.elements_ref(self.qref(node.get("ref", ""), ctx[0]))
            else:
                term = self.element(node, ctx, is_global=False)
        elif tag in ("sequence", "choice"):
            parts = [self.particle(c, ctx) for c in node if _tag(c) not in ("annotation",)]
            term = Group(tag, parts)
        elif tag == "any":
            term = Wildcard(node.get("namespace", "##any"))
        else:
            raise SchemaError(f"particle xs:{tag} is not supported")
        return Particle(lo, hi, term)

    def elements_ref(self, qname: QName) -> ElementDecl:
        # Global declarations may come later in the file: resolve lazily by sharing the object.
        decl = self.elements.get(qname)
        if decl is None:
            decl = ElementDecl(qname=qname, is_global=True)
            self.elements[qname] = decl
        return decl

    # ---- types ---------------------------------------------------------------------
    def simple_type(self, node: ET.Element, nsmap: dict[str, str], tns: str, name: str) -> SimpleType:
        restriction = next((c for c in node if _tag(c) == "restriction"), None)
        if restriction is None:
            raise SchemaError(f"simple type {name}: only xs:restriction is supported")
        base = self.simple_by_name(self.qref(restriction.get("base", ""), nsmap))
        facets: dict[str, list[str]] = {}
        for facet in restriction:
            facets.setdefault(_tag(facet), []).append(facet.get("value", ""))
        unknown = set(facets) - _FACETS - {"annotation", ""}
        if unknown:  # e.g. xs:pattern: refuse rather than silently accept what it forbids
            raise SchemaError(f"simple type {name}: facets {sorted(unknown)} are not supported")
        st = SimpleType(name=name, kind=base.kind, ns=tns, nbits=base.nbits, offset=base.offset,
                        enum=base.enum, lo=base.lo, hi=base.hi, min_len=base.min_len,
                        max_len=base.max_len)
        if "enumeration" in facets:
            if base.kind != "string":
                raise SchemaError(f"{name}: enumerations of {base.kind} are not supported")
            st.kind, st.enum = "enum", tuple(facets["enumeration"])
            st.nbits = _nbits(len(st.enum))
            return st
        if base.kind in ("uint", "sint", "nbit"):
            if "minInclusive" in facets:
                st.lo = int(facets["minInclusive"][0])
            if "maxInclusive" in facets:
                st.hi = int(facets["maxInclusive"][0])
            _integer_kind(st)
        elif base.kind in ("string", "hex", "b64"):
            for exact in facets.get("length", []):
                st.min_len = st.max_len = int(exact)
            for low in facets.get("minLength", []):
                st.min_len = int(low)
            for high in facets.get("maxLength", []):
                st.max_len = int(high)
        elif set(facets) & {"minInclusive", "maxInclusive", "length", "minLength", "maxLength"}:
            raise SchemaError(f"simple type {name}: facets {sorted(facets)} on {base.kind}")
        return st

    def simple_by_name(self, qname: QName) -> SimpleType:
        if qname in self.simple:
            return self.simple[qname]
        if qname[0] == XS:
            st = _builtin(qname[1])
        elif qname in self.simple_raw:
            node, nsmap, tns = self.simple_raw[qname]
            st = self.simple_type(node, nsmap, tns, qname[1])
        else:
            raise SchemaError(f"unknown simple type {qname}")
        self.simple[qname] = st
        return st

    def complex_by_name(self, qname: QName) -> ComplexType:
        if qname in self.complex:
            ct = self.complex[qname]
            if not ct.resolved:
                raise SchemaError(f"type {qname} derives from itself")
            return ct
        node, nsmap, tns, forms = self.complex_raw[qname]
        efd, afd = forms.split()
        ctx = (nsmap, tns, efd, afd)
        ct = ComplexType(qname=qname, abstract=node.get("abstract") == "true",
                         mixed=node.get("mixed") == "true")
        self.complex[qname] = ct
        body = node
        for child in node:
            tag = _tag(child)
            if tag in ("complexContent", "simpleContent"):
                ct.mixed = ct.mixed or child.get("mixed") == "true"
                derivation = next(c for c in child if _tag(c) in ("extension", "restriction"))
                base = self.qref(derivation.get("base", ""), nsmap)
                body = derivation
                if tag == "simpleContent":
                    if base in self.complex_raw:
                        parent = self.complex_by_name(base)
                        ct.simple, ct.attributes = parent.simple, list(parent.attributes)
                    else:
                        ct.simple = self.simple_by_name(base)
                elif _tag(derivation) == "extension" and base != (XS, "anyType"):
                    parent = self.complex_by_name(base)
                    ct.base = base
                    ct.attributes = list(parent.attributes)
                    ct.content = parent.content
                    ct.mixed = ct.mixed or parent.mixed
        own: Particle | None = None
        for child in body:
            tag = _tag(child)
            if tag in ("sequence", "choice", "all", "group"):
                if tag in ("all", "group"):
                    raise SchemaError(f"{qname}: xs:{tag} is not supported")
                own = self.particle(child, ctx)
            elif tag == "attribute":
                ct.attributes.append(self.attribute(child, ctx))
            elif tag == "anyAttribute":
                raise SchemaError(f"{qname}: xs:anyAttribute is not supported")
        if own is not None:
            if ct.content is None:
                ct.content = own
            else:  # extension: the base's content followed by the derived type's own
                ct.content = Particle(1, 1, Group("sequence", [ct.content, own]))
        ct.resolved = True
        return ct

    def attribute(self, node: ET.Element, ctx: tuple) -> AttributeUse:
        nsmap, tns, _, afd = ctx
        ns = tns if (afd == "qualified" or node.get("form") == "qualified") else ""
        if node.get("type"):
            st = self.simple_by_name(self.qref(node.get("type", ""), nsmap))
        else:
            inner = next(c for c in node if _tag(c) == "simpleType")
            st = self.simple_type(inner, nsmap, tns, node.get("name", "") + "Type")
        return AttributeUse((ns, node.get("name", "")), st, node.get("use") == "required")

    def finish(self) -> SchemaSet:
        for decl in list(self.elements.values()):
            self.resolve_element(decl)
        for qname in list(self.complex_raw):
            self.complex_by_name(qname)
        for qname in list(self.simple_raw):
            self.simple_by_name(qname)
        seen: set[int] = set()
        for ct in list(self.complex.values()):
            if ct.content is not None:
                self.resolve_particle(ct.content, seen)
        return SchemaSet(self.files, self.elements, self.complex, self.simple)

    def resolve_element(self, decl: ElementDecl) -> None:
        if decl.type is not None:
            return
        ref = decl.type_ref
        assert ref is not None
        if ref in self.complex_raw:
            decl.type = self.complex_by_name(ref)
        elif ref == (XS, "anyType"):
            raise SchemaError(f"element {decl.qname} has no type (anyType is not supported)")
        else:
            decl.type = self.simple_by_name(ref)

    def resolve_particle(self, particle: Particle, seen: set[int]) -> None:
        if id(particle) in seen:
            return
        seen.add(id(particle))
        term = particle.term
        if isinstance(term, ElementDecl):
            self.resolve_element(term)
        elif isinstance(term, Group):
            for p in term.particles:
                self.resolve_particle(p, seen)


def _builtin(local: str) -> SimpleType:
    if local == "boolean":
        return SimpleType(local, "bool")
    if local in _STRINGS:
        return SimpleType(local, "string")
    if local == "hexBinary":
        return SimpleType(local, "hex")
    if local == "base64Binary":
        return SimpleType(local, "b64")
    if local in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[local]
        st = SimpleType(local, "sint", lo=lo, hi=hi)
        _integer_kind(st)
        return st
    raise SchemaError(f"built-in type xs:{local} is not supported")


def _integer_kind(st: SimpleType) -> None:
    """EXI 1.0 §7.1.5: n-bit when the range is at most 4096 values, else (un)signed."""
    if st.lo is not None and st.hi is not None and st.hi - st.lo < 4096:
        st.kind, st.offset, st.nbits = "nbit", st.lo, _nbits(st.hi - st.lo + 1)
    elif st.lo is not None and st.lo >= 0:
        st.kind, st.offset, st.nbits = "uint", 0, 0
    else:
        st.kind, st.offset, st.nbits = "sint", 0, 0


def _locate(folder: Path, location: str) -> Path:
    """schemaLocation, else the same file name one folder up: the iso15118 package keeps one
    xmldsig-core-schema.xsd beside its DIN and -20 folders, which point into themselves."""
    for candidate in (folder / location, folder.parent / Path(location).name):
        if candidate.exists():
            return candidate
    raise SchemaError(f"{folder}: cannot find imported schema {location}")


def load_schema_set(root: Path) -> SchemaSet:
    loader = _Loader()
    loader.load(root)
    return loader.finish()
