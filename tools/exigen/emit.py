"""Writes one Python module per schema set: dataclasses, enums, grammars, codec functions.

Classes are owned by the module of their namespace: types of namespaces several schema sets
share (xmldsig, ISO 15118-20 CommonTypes) live in a class-only module the codecs import,
so a `RationalNumberType` is the same class for the AC and the DC codec. Codec functions
are per schema set, because a type's grammar depends on the substitution groups in the set.
"""

from __future__ import annotations

import keyword
import re

from tools.exigen.grammar import EE, UNBOUNDED_CAP, UNROLL_LIMIT, Field, Grammar, build
from tools.exigen.xsd import ComplexType, ElementDecl, SchemaSet, SimpleType

_PY_TYPES = {"bool": "bool", "string": "str", "hex": "bytes", "b64": "bytes", "uint": "int",
             "sint": "int", "nbit": "int"}
_JSON_KINDS = {"bool": "bool", "string": "str", "hex": "hex", "b64": "b64", "uint": "int",
               "sint": "int", "nbit": "int", "enum": "enum"}


def _ident(text: str) -> str:
    name = re.sub(r"\W", "_", text)
    if not name or name[0].isdigit() or keyword.iskeyword(name):
        name = "_" + name
    return name


def _ns(qname: tuple[str, str]) -> str:
    return "{" + qname[0] + "}" + qname[1] if qname[0] else qname[1]


class ModuleWriter:
    def __init__(self, schema: SchemaSet, module: str, owned: set[str],
                 shared: dict[str, str], header: str, namespace: str | None,
                 fragment: bool = False) -> None:
        self.schema = schema
        self.module = module
        self.owned = owned  # namespaces whose classes this module defines
        self.shared = shared  # namespace -> module defining its classes
        self.header = header
        self.namespace = namespace  # the reference codec's URN, None for class-only modules
        self.fragment = fragment  # EXI fragments (xmldsig) instead of documents
        self.lines: list[str] = []
        self.current = ""  # the type whose codec functions are being written
        self.imports: dict[str, set[str]] = {}
        self.class_names: dict[int, str] = {}
        self.element_classes: dict[tuple[str, str], str] = {}
        self.enums: dict[int, str] = {}
        self._name_classes()

    # ---- naming --------------------------------------------------------------------
    def _name_classes(self) -> None:
        taken: dict[str, object] = {}
        for qname, ct in sorted(self.schema.complex_types.items()):
            self.class_names[id(ct)] = self._claim(taken, _ident(qname[1]), ct)
        for qname, decl in sorted(self.schema.elements.items()):
            if isinstance(decl.type, ComplexType):
                if decl.type.qname == qname:  # anonymous type named after its element
                    self.element_classes[qname] = self.class_names[id(decl.type)]
                else:
                    self.element_classes[qname] = self._claim(taken, _ident(qname[1]), decl)
        simple = [st for st in self.schema.simple_types.values() if st.kind == "enum"]
        for ct in self.schema.complex_types.values():
            for attr in ct.attributes:
                simple.append(attr.type)
        for decl in self.schema.elements.values():
            if isinstance(decl.type, SimpleType):
                simple.append(decl.type)
        for ct in self.schema.complex_types.values():
            for fld in build_fields(ct, self.schema):
                if fld.simple is not None:
                    simple.append(fld.simple)
        for st in sorted({id(s): s for s in simple if s.kind == "enum"}.values(),
                         key=lambda s: (s.ns, s.name)):
            self.enums[id(st)] = self._claim(taken, _ident(st.name), st)

    @staticmethod
    def _claim(taken: dict[str, object], name: str, obj: object) -> str:
        while name in taken and taken[name] is not obj:
            name += "_"
        taken[name] = obj
        return name

    def owner(self, ns: str) -> str | None:
        """Module that defines classes of `ns`, or None when it is this one."""
        if ns in self.owned or ns not in self.shared:
            return None
        return self.shared[ns]

    def ref(self, ns: str, name: str) -> str:
        owner = self.owner(ns)
        if owner is not None:
            self.imports.setdefault(owner, set()).add(name)
        return name

    def type_ref(self, ct: ComplexType) -> str:
        return self.ref(ct.qname[0], self.class_names[id(ct)])

    def enum_ref(self, st: SimpleType) -> str:
        return self.ref(st.ns, self.enums[id(st)])

    def element_ref(self, decl: ElementDecl) -> str:
        return self.ref(decl.qname[0], self.element_classes[decl.qname])

    # ---- output --------------------------------------------------------------------
    def emit(self) -> str:
        body: list[str] = []
        self.lines = body
        self._emit_enums()
        self._emit_classes()
        if self.namespace is not None:
            self._emit_codec()
        else:
            for ct in self._codec_types():
                self._emit_type_codec(grammar_of(ct, self.schema))
        self._emit_json()
        head = [self.header, "", "from __future__ import annotations", ""]
        head.append("from dataclasses import dataclass, field  # noqa: F401")
        head.append("from enum import Enum  # noqa: F401")
        head.append("from typing import Any  # noqa: F401")
        head.append("")
        head.append("from host.exi import runtime as rt  # noqa: F401")
        for owner in sorted(self.imports):
            head.append(f"from host.exi.schemas import {owner} as _{owner}")
        if self.imports:
            head.append("")
        for owner in sorted(self.imports):
            for name in sorted(self.imports[owner]):
                head.append(f"{name} = _{owner}.{name}")
        return "\n".join(head + ["", ""] + body).rstrip() + "\n"

    def _emit_enums(self) -> None:
        for st in self._owned_enums():
            name = self.enums[id(st)]
            self.lines.append(f"class {name}(Enum):")
            self.lines.append(f'    """Simple type {_ns((st.ns, st.name))}: EXI {st.nbits}-bit '
                              'enumeration, values in schema order."""')
            self.lines.append("")
            seen: set[str] = set()
            for value in st.enum:
                member = _ident(value)
                while member in seen:
                    member += "_"
                seen.add(member)
                self.lines.append(f"    {member} = {value!r}")
            self.lines += ["", ""]

    def _owned_enums(self) -> list[SimpleType]:
        return [st for st in self._all_enums() if self.owner(st.ns) is None]

    def _all_enums(self) -> list[SimpleType]:
        out: dict[int, SimpleType] = {}
        for ct in self.schema.complex_types.values():
            for fld in build_fields(ct, self.schema):
                if fld.simple is not None and fld.simple.kind == "enum":
                    out[id(fld.simple)] = fld.simple
        for st in self.schema.simple_types.values():
            if st.kind == "enum":
                out[id(st)] = st
        return sorted(out.values(), key=lambda s: self.enums[id(s)])

    def _owned_types(self) -> list[ComplexType]:
        types = [ct for ct in self.schema.complex_types.values() if self.owner(ct.qname[0]) is None]
        # bases first, so a derived class can name its base
        ordered: list[ComplexType] = []

        def visit(ct: ComplexType) -> None:
            if ct in ordered:
                return
            if ct.base is not None and self.owner(ct.base[0]) is None:
                visit(self.schema.complex_types[ct.base])
            ordered.append(ct)

        for ct in sorted(types, key=lambda c: self.class_names[id(c)]):
            visit(ct)
        return ordered

    def _py_type(self, fld: Field) -> str:
        if fld.kind in ("attr", "value") or fld.simple is not None:
            st = fld.simple
            assert st is not None
            base = self.enum_ref(st) if st.kind == "enum" else _PY_TYPES[st.kind]
        else:
            decl = fld.decl
            assert isinstance(decl, ElementDecl) and isinstance(decl.type, ComplexType)
            base = self.type_ref(decl.type)
        if fld.is_list:
            return f"list[{base}]"
        if fld.optional:
            return f"{base} | None"
        return base

    def _emit_classes(self) -> None:
        for ct in self._owned_types():
            name = self.class_names[id(ct)]
            fields = build_fields(ct, self.schema)
            inherited: set[str] = set()
            parent = ""
            if ct.base is not None:
                base_ct = self.schema.complex_types[ct.base]
                parent = f"({self.type_ref(base_ct)})"
                inherited = {f.name for f in build_fields(base_ct, self.schema)}
            self.lines.append("@dataclass(slots=True, kw_only=True)")
            self.lines.append(f"class {name}{parent}:")
            kind = "abstract complex type" if ct.abstract else "complex type"
            self.lines.append(f'    """{kind.capitalize()} {_ns(ct.qname)}."""')
            own = [f for f in fields if f.name not in inherited]
            if own:
                self.lines.append("")
            for fld in own:
                annotation = self._py_type(fld)
                if fld.is_list:
                    default = " = field(default_factory=list)"
                elif fld.optional:
                    default = " = None"
                else:
                    default = ""
                self.lines.append(f"    {_ident(fld.name)}: {annotation}{default}")
            self.lines += ["", ""]
        for qname, decl in sorted(self.schema.elements.items()):
            if self.owner(qname[0]) is not None or not isinstance(decl.type, ComplexType):
                continue
            name = self.element_classes[qname]
            if decl.type.qname == qname:
                continue
            self.lines.append("@dataclass(slots=True, kw_only=True)")
            self.lines.append(f"class {name}({self.type_ref(decl.type)}):")
            self.lines.append(f'    """Element {_ns(qname)} of type {decl.type.qname[1]}."""')
            self.lines += ["", ""]

    # ---- codec ---------------------------------------------------------------------
    def _emit_codec(self) -> None:
        for ct in self._codec_types():
            self._emit_type_codec(grammar_of(ct, self.schema))
        self._emit_document()

    def _emit_type_codec(self, grammar: Grammar) -> None:
        self._emit_grammar(grammar)
        self._emit_encoder(grammar)
        self._emit_decoder(grammar)

    def _codec_types(self) -> list[ComplexType]:
        """Types whose grammar and codec functions this module writes: a shared module's
        portable types; in a codec module everything the shared modules do not carry."""
        types = sorted(self.schema.complex_types.values(), key=lambda c: self.class_names[id(c)])
        return [ct for ct in types if self._codec_owner(ct) is None]

    def _codec_owner(self, ct: ComplexType) -> str | None:
        """Module holding `ct`'s codec functions, None for this one."""
        owner = self.owner(ct.qname[0])
        if owner is not None:  # a shared type: its module carries it unless it is not portable
            return owner if self._portable(ct) else None
        if self.namespace is None and not self._portable(ct):
            return "-"  # a class-only module writes no codec for it; codec modules do
        return None

    def _portable(self, ct: ComplexType, seen: frozenset[int] = frozenset()) -> bool:
        """Its grammar is the same in every schema set: no substitution group (whose members
        differ between sets) anywhere inside it."""
        if id(ct) in seen:
            return True
        for fld in build_fields(ct, self.schema):
            if fld.kind == "subst":
                return False
            decl = fld.decl
            if isinstance(decl, ElementDecl) and isinstance(decl.type, ComplexType):
                if not self._portable(decl.type, seen | {id(ct)}):
                    return False
        return True

    def codec_ref(self, ct: ComplexType, side: str) -> str:
        """`_enc_X` / `_dec_X` here, or through the shared module that carries it."""
        name = f"_{side}_{self.class_names[id(ct)]}"
        owner = self._codec_owner(ct)
        if owner is None:
            return name
        self.imports.setdefault(owner, set())
        return f"_{owner}.{name}"

    def _emit_grammar(self, g: Grammar) -> None:
        name = self.class_names[id(g.type)]
        out = self.lines
        out.append(f"# {_ns(g.type.qname)}: normalised grammar, event code widths in bits")
        for i, state in enumerate(g.states):
            prods = ", ".join(
                f"{p.label()}={p.code}" + ("" if p.target < 0 else f"->{p.target}")
                for p in state
            )
            out.append(f"#   state {i} ({Grammar.width(state)}): {prods}")
        out.append(f"_G_{name} = rt.Grammar({name!r}, (")
        for state in g.states:
            prods = "".join(f"({p.key!r}, {p.target}), " for p in state)
            out.append(f"    ({Grammar.width(state)}, ({prods})),")
        out += ["))", "", ""]

    def _value_call(self, st: SimpleType, value: str | None = None, fld: Field | None = None
                    ) -> str:
        """`w.<datatype>(value, facets...)`, or `r.<datatype>(facets...)` without a value;
        `<datatype>_in` with the field's name where the schema's facets narrow the datatype."""
        method = {"hex": "binary", "b64": "binary", "bool": "boolean"}.get(st.kind, st.kind)
        args = [] if value is None else [value]
        if st.kind == "nbit":
            args += [str(st.offset), str(st.hi), str(st.nbits)]
        elif st.kind == "enum":
            table = "_E_" if value is None else "_IX_"  # members to read, indices to write
            args += [table + self.enums[id(st)], str(st.nbits)]
        elif _facets(st) is not None:
            method += "_in"
            args += [*_facets(st), repr(self._where(fld))]
        return f"{'r' if value is None else 'w'}.{method}({', '.join(args)})"

    def _where(self, fld: Field | None) -> str:
        """The field named in facet errors: `Type.Field`."""
        return f"{self.current}.{fld.name if fld is not None else 'value'}"

    def _emit_encoder(self, g: Grammar) -> None:
        name = self.current = self.class_names[id(g.type)]
        out = self.lines
        out.append(f"def _enc_{name}(w: rt.BitWriter, v: {self.type_ref(g.type)}) -> None:")
        out.append(f'    """Encode {_ns(g.type.qname)} through _G_{name} '
                   f'(states 0..{len(g.states) - 1})."""')
        out.append(f"    g = _G_{name}")
        out.append("    s = 0")
        for fld in g.fields:
            attr = _ident(fld.name)
            indent = "    "
            expr = f"v.{attr}"
            if fld.is_list:
                limit = _occurs_limit(fld)
                if limit is not None:
                    out.append(f"    rt.check_occurs({self._where(fld)!r}, len(v.{attr}), "
                               f"{limit})")
                out.append(f"    for x_{attr} in v.{attr}:")
                indent, expr = "        ", f"x_{attr}"
            elif fld.optional:
                out.append(f"    if v.{attr} is not None:")
                indent = "        "
            out.extend(indent + line for line in self._encode_field(fld, expr))
        out.append("    w.event(g, s, rt.EE)")
        out += ["", ""]

    def _encode_field(self, fld: Field, expr: str) -> list[str]:
        if fld.kind == "attr":
            assert fld.simple is not None
            return [f"s = w.event(g, s, 'AT:{fld.name}')",
                    self._value_call(fld.simple, expr, fld)]
        if fld.kind == "value":
            assert fld.simple is not None
            return ["s = w.event(g, s, rt.CH)", self._value_call(fld.simple, expr)]
        if fld.kind == "subst":
            return [f"key, enc = rt.element_encoder(_ELEMENT_ENCODERS, {expr})",
                    "s = w.event(g, s, key)",
                    f"enc(w, {expr})"]
        decl = fld.decl
        assert isinstance(decl, ElementDecl)
        lines = [f"s = w.event(g, s, 'SE:{decl.qname[1]}')"]
        st = fld.simple
        if st is None:
            assert isinstance(decl.type, ComplexType)
            return lines + [f"{self.codec_ref(decl.type, 'enc')}(w, {expr})"]
        if st.kind in ("hex", "b64", "string"):  # may be empty: see BitWriter.elem_text
            write = "w.string" if st.kind == "string" else "w.binary"
            if _facets(st) is not None:
                facets = ", ".join(_facets(st) or ())
                expr = f"rt.check_length({expr}, {facets}, {self._where(fld)!r})"
            return lines + [f"w.elem_text({expr}, {write})"]
        # simple-typed element: CH (1 bit, code 0), the value, EE (1 bit, code 0)
        return lines + ["w.bits(1, 0)", self._value_call(st, expr, fld), "w.bits(1, 0)"]

    def _emit_decoder(self, g: Grammar) -> None:
        name = self.current = self.class_names[id(g.type)]
        cls = self.type_ref(g.type)
        out = self.lines
        out.append(f"def _dec_{name}(r: rt.BitReader, cls: type = {cls}) -> {cls}:")
        out.append(f'    """Decode {_ns(g.type.qname)} through _G_{name} '
                   f'(states 0..{len(g.states) - 1})."""')
        out.append(f"    r.enter({name!r})")
        out.append(f"    g = _G_{name}")
        for fld in g.fields:
            out.append(f"    f_{_ident(fld.name)}: Any = {'[]' if fld.is_list else 'None'}")
        out.append("    s = 0")
        out.append("    while True:")
        out.append("        k, s = r.event(g, s)")
        branches: list[tuple[str, list[str]]] = []
        seen: set[str] = set()
        for state in g.states:
            for prod in state:
                if prod.key in seen or prod.key == EE or prod.field is None:
                    continue
                seen.add(prod.key)
                branches.append((prod.key, self._decode_production(prod.field, prod.decl)))
        args = ", ".join(f"{_ident(f.name)}=f_{_ident(f.name)}" for f in g.fields)
        branches.append((EE, ["r.depth -= 1", f"return cls({args})"]))
        for i, (key, body) in enumerate(branches):
            keyword_ = "if" if i == 0 else "elif"
            out.append(f"        {keyword_} k == {key!r}:")
            out.extend("            " + line for line in body)
        out.append("        else:")
        out.append(f"            raise rt.ExiDecodeError(r.pos, f'{name}: {{k}} is not supported')")
        out += ["", ""]

    def _decode_production(self, fld: Field, decl: ElementDecl | None) -> list[str]:
        target = f"f_{_ident(fld.name)}"
        if fld.kind in ("attr", "value"):
            assert fld.simple is not None
            value = self._value_call(fld.simple, None, fld if fld.kind == "attr" else None)
        elif fld.simple is not None:
            st = fld.simple
            empty = {"hex": "b''", "b64": "b''", "string": "''"}.get(st.kind)
            x = f"x_{_ident(fld.name)}"
            if empty is not None:
                # an empty element: its value is empty, which a minimum length forbids
                none = (f"r.empty({empty}, {st.min_len}, {self._where(fld)!r})"
                        if st.min_len else empty)
                lines = [f"{x} = {self._value_call(st, None, fld)} if r.ch(True) else {none}",
                         f"if {x} != {empty}:", "    r.ee()"]
            else:
                lines = ["r.ch(False)", f"{x} = {self._value_call(st, None, fld)}", "r.ee()"]
            return lines + [f"{target}.append({x})" if fld.is_list else f"{target} = {x}"] + \
                self._occurs_check(fld)
        else:
            assert decl is not None and isinstance(decl.type, ComplexType)
            cls = (self.element_ref(decl) if fld.kind == "subst"
                   else self.type_ref(decl.type))
            value = f"{self.codec_ref(decl.type, 'dec')}(r, {cls})"
        return [f"{target}.append({value})" if fld.is_list else f"{target} = {value}"] + \
            self._occurs_check(fld)

    def _occurs_check(self, fld: Field) -> list[str]:
        limit = _occurs_limit(fld)
        if limit is None:
            return []
        bound = "maxOccurs unbounded, capped" if fld.max_occurs is None else "maxOccurs"
        return [f"if len(f_{_ident(fld.name)}) > {limit}:",
                f"    raise rt.ExiDecodeError(r.pos, '{self._where(fld)}: more than {limit} "
                f"items ({bound})')"]

    def _emit_document(self) -> None:
        out = self.lines
        globals_ = sorted(self.schema.elements.values(), key=lambda d: (d.qname[1], d.qname[0]))
        out.append(f"NAMESPACE = {self.namespace!r}")
        out.append(f"FRAGMENT_DEFAULT = {self.fragment}")
        out.append("# DocContent (EXI 1.0 §8.5.1): SE(G_0..G_n-1), the global elements sorted "
                   "by qname, then SE(*)")
        out.append(f"DOC_WIDTH = {len(globals_).bit_length()}")
        self._emit_roots("DOC", globals_)
        fragment = self._fragment_elements()
        out.append("# FragmentContent (EXI 1.0 §8.5.2): SE(F_0..F_n-1), every element "
                   "declaration, global or local, sorted by qname; then SE(*), ED")
        out.append(f"FRAG_WIDTH = {(len(fragment) + 1).bit_length()}")
        out.append(f"FRAG_END = {len(fragment) + 1}  # ED")
        self._emit_roots("FRAG", fragment)
        out.append("# every global element's class, for substitution groups and JSON keys")
        out.append("ELEMENT_CLASSES: dict = {")
        for decl in globals_:
            if isinstance(decl.type, ComplexType):
                out.append(f"    {decl.qname[1]!r}: {self.element_ref(decl)},")
        out.append("}")
        abstract = sorted(f"SE:{d.qname[1]}" for d in globals_ if d.abstract)
        out.append("# abstract elements: valid EXI, but the reference codec cannot map them")
        out.append(f"ABSTRACT_EVENTS: frozenset[str] = frozenset({abstract!r})")
        out.append("_ELEMENT_ENCODERS: dict = {")
        for decl in globals_:
            if isinstance(decl.type, ComplexType):
                out.append(f"    {self.element_ref(decl)}: ('SE:{decl.qname[1]}', "
                           f"{self.codec_ref(decl.type, 'enc')}),")
        out.append("}")
        out += ["", ""]

    def _emit_roots(self, prefix: str, roots: list[ElementDecl]) -> None:
        out = self.lines
        out.append(f"{prefix}_DECODERS: tuple = (")
        for code, decl in enumerate(roots):
            if isinstance(decl.type, ComplexType) and not decl.abstract:
                cls = self._root_class(decl)
                out.append(f"    ({self.codec_ref(decl.type, 'dec')}, {cls}),  "
                           f"# {code}: {_ns(decl.qname)}")
            else:
                out.append(f"    None,  # {code}: {_ns(decl.qname)} (not a supported root)")
        out.append(")")
        out.append(f"{prefix}_ENCODERS: dict = {{")
        taken: set[str] = set()
        for code, decl in enumerate(roots):
            if isinstance(decl.type, ComplexType) and not decl.abstract:
                cls = self._root_class(decl)
                if cls in taken:
                    continue
                taken.add(cls)
                out.append(f"    {cls}: ({code}, {self.codec_ref(decl.type, 'enc')}),")
        out.append("}")

    def _root_class(self, decl: ElementDecl) -> str:
        if decl.is_global:
            return self.element_ref(decl)
        assert isinstance(decl.type, ComplexType)
        return self.type_ref(decl.type)

    def _fragment_elements(self) -> list[ElementDecl]:
        found = {d.qname: d for d in self.schema.elements.values()}
        for ct in self.schema.complex_types.values():
            for fld in build_fields(ct, self.schema):
                decl = fld.decl
                if isinstance(decl, ElementDecl) and not decl.is_global:
                    found.setdefault(decl.qname, decl)
        return sorted(found.values(), key=lambda d: (d.qname[1], d.qname[0]))

    # ---- JSON metadata and enum tables ---------------------------------------------
    def _emit_json(self) -> None:
        out = self.lines
        for st in self._all_enums():
            name = self.enums[id(st)]
            enum_cls = self.enum_ref(st)
            out.append(f"_E_{name} = tuple({enum_cls})")
            out.append(f"_IX_{name} = {{m: i for i, m in enumerate(_E_{name})}}")
        out.append("")
        out.append("# per class: (field, JSON kind, enum or class, is a list, JSON wraps it in a "
                   "list), in grammar order")
        out.append("JSON_FIELDS: dict = {")
        for owner in sorted(self.imports):
            out.append(f"    **_{owner}.JSON_FIELDS,")
        for ct in self._owned_types():
            specs = []
            for fld in build_fields(ct, self.schema):
                specs.append(self._json_spec(fld, ct.mixed))
            out.append(f"    {self.class_names[id(ct)]}: ({''.join(specs)}),")
        out.append("}")
        for qname, decl in sorted(self.schema.elements.items()):
            if self.owner(qname[0]) is None and isinstance(decl.type, ComplexType):
                if decl.type.qname != qname:
                    out.append(f"JSON_FIELDS[{self.element_classes[qname]}] = "
                               f"JSON_FIELDS[{self.type_ref(decl.type)}]")

    def _json_spec(self, fld: Field, mixed: bool) -> str:
        if fld.simple is not None:
            kind = _JSON_KINDS[fld.simple.kind]
            target = self.enum_ref(fld.simple) if kind == "enum" else "None"
        elif fld.kind == "subst":  # the head's type: every member's class derives from it
            decl = fld.decl
            assert isinstance(decl, ElementDecl) and isinstance(decl.type, ComplexType)
            kind, target = "subst", self.type_ref(decl.type)
        else:
            decl = fld.decl
            assert isinstance(decl, ElementDecl) and isinstance(decl.type, ComplexType)
            kind, target = "obj", self.type_ref(decl.type)
        # the reference codec's JSON lists every child of a mixed-content type (xmldsig)
        wrap = mixed and fld.kind != "attr" and not fld.is_list
        return f"({fld.name!r}, {kind!r}, {target}, {fld.is_list}, {wrap}), "


def _facets(st: SimpleType) -> tuple[str, str] | None:
    """(low, high) literals of the facets narrowing `st`'s EXI datatype, None if none do:
    an integer's value range beyond what its datatype holds, a string's or binary's length."""
    if st.kind == "uint" and (st.lo or st.hi is not None):
        return repr(st.lo or 0), repr(st.hi)
    if st.kind == "sint" and (st.lo is not None or st.hi is not None):
        return repr(st.lo), repr(st.hi)
    if st.kind in ("string", "hex", "b64") and (st.min_len or st.max_len is not None):
        return repr(st.min_len), repr(st.max_len)
    return None


def _occurs_limit(fld: Field) -> int | None:
    """The item count a list field's code checks: the schema's maxOccurs where the grammar
    loops instead of counting (see grammar._sub), UNBOUNDED_CAP where the schema sets none;
    None where the grammar itself refuses one item too many."""
    if not fld.is_list:
        return None
    if fld.max_occurs is None:
        return UNBOUNDED_CAP
    return fld.max_occurs if fld.max_occurs > UNROLL_LIMIT else None


def grammar_of(ct: ComplexType, schema: SchemaSet) -> Grammar:
    cache = _GRAMMARS.setdefault(id(schema), (schema, {}))[1]
    if id(ct) not in cache:
        cache[id(ct)] = build(ct, schema)
    return cache[id(ct)]


def build_fields(ct: ComplexType, schema: SchemaSet) -> list[Field]:
    return grammar_of(ct, schema).fields


# id(schema set) -> (the set, kept alive so its id is not reused; grammars by type id)
_GRAMMARS: dict[int, tuple[SchemaSet, dict[int, Grammar]]] = {}
