"""Schema-informed EXI grammars (EXI 1.0 §8.5.4), non-strict, nothing preserved.

Each complex type becomes a proto-grammar (attribute uses sorted by qname, then the content
particle as a Thompson-style automaton with epsilon edges), which is normalised into a
deterministic grammar (§8.5.4.2: epsilon elimination and merging of duplicate terminals).
Event codes follow §8.5.4.3: AT(qname) sorted by local name then URI, SE(qname) in schema
order (substitution group members sorted by qname), SE(*), EE, CH. Because the reference
codec is non-strict, every state also has second-level productions, so a state with N
first-level productions spends ceil(log2(N + 1)) bits on its event code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.exigen.xsd import (
    AttributeUse,
    ComplexType,
    ElementDecl,
    Group,
    Particle,
    SchemaError,
    SchemaSet,
    SimpleType,
    Wildcard,
)

EE = "EE"
CH = "CH"
CH_UNTYPED = "CH*"
SE_ANY = "SE*"
# bounded repetitions longer than this become a loop plus a count check (ISO 15118-20
# allows up to 1024 schedule entries: unrolled, that is 1024 identical grammar states)
UNROLL_LIMIT = 24
# Items a list may hold where the schema says maxOccurs="unbounded" (DIN PaymentOption,
# SAScheduleTuple, PMaxScheduleEntry...; xmldsig): the largest bound the ISO 15118 schemas
# state anywhere (-2 PMaxScheduleEntry, -20 schedule entries), so no real message comes near
# it, while a hostile stream of empty items stops after at most this many.
UNBOUNDED_CAP = 1024


@dataclass
class Field:
    """One dataclass field: an attribute, an element particle, or simple content."""

    name: str
    kind: str  # attr | elem | subst | value
    decl: ElementDecl | AttributeUse | None
    simple: SimpleType | None = None
    is_list: bool = False
    optional: bool = False
    max_occurs: int | None = None  # checked in code when the grammar loops instead (see _sub)


@dataclass
class Production:
    key: str
    code: int
    target: int  # next state, -1 after EE
    field: Field | None
    decl: ElementDecl | None = None  # the element a SE starts (a substitution member)

    def label(self) -> str:
        if self.key == EE:
            return "EE"
        if self.key in (CH, CH_UNTYPED, SE_ANY):
            return {CH: "CH", CH_UNTYPED: "CH[untyped]", SE_ANY: "SE(*)"}[self.key]
        kind, _, name = self.key.partition(":")
        return f"{kind}({name})"


@dataclass
class Grammar:
    type: ComplexType
    fields: list[Field]
    states: list[list[Production]] = field(default_factory=list)

    @staticmethod
    def width(state: list[Production]) -> int:
        return len(state).bit_length()  # ceil(log2(N + 1)): room for the second level


class _Nfa:
    def __init__(self) -> None:
        self.edges: list[list[tuple[tuple, str, Field | None, ElementDecl | None, int]]] = []
        self.eps: list[list[int]] = []
        self.position = 0

    def node(self) -> int:
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def edge(self, a: int, sort: tuple, key: str, fld: Field | None, decl, b: int) -> None:
        self.edges[a].append((sort, key, fld, decl, b))

    def closure(self, nodes: set[int]) -> frozenset[int]:
        stack, seen = list(nodes), set(nodes)
        while stack:
            for nxt in self.eps[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return frozenset(seen)


def element_key(decl: ElementDecl) -> str:
    return "SE:" + decl.qname[1]


def build(ct: ComplexType, schema: SchemaSet) -> Grammar:
    nfa = _Nfa()
    fields: list[Field] = []
    start = cur = nfa.node()
    for attr in sorted(ct.attributes, key=lambda a: (a.qname[1], a.qname[0])):
        fld = Field(attr.qname[1], "attr", attr, attr.type, optional=not attr.required)
        fields.append(fld)
        nxt = nfa.node()
        nfa.edge(cur, (0, attr.qname[1], attr.qname[0]), "AT:" + attr.qname[1], fld, None, nxt)
        if not attr.required:
            nfa.eps[cur].append(nxt)
        cur = nxt
    content_start = cur
    if ct.simple is not None:
        fld = Field("value", "value", None, ct.simple)
        fields.append(fld)
        nxt = nfa.node()
        nfa.edge(cur, (4,), CH, fld, None, nxt)
        cur = nxt
    elif ct.content is not None:
        cur = _particle(nfa, ct.content, cur, fields, schema, repeated=False, optional=False)
    final = cur
    names = [f.name for f in fields]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SchemaError(f"{ct.qname}: repeated particle names {sorted(dupes)}")

    grammar = Grammar(ct, fields)
    index: dict[frozenset[int], int] = {}
    todo = [nfa.closure({start})]
    index[todo[0]] = 0
    content_nodes = set(range(content_start, len(nfa.edges)))
    while todo:
        nodes = todo.pop(0)
        grouped: dict[str, tuple[tuple, Field | None, ElementDecl | None, set[int]]] = {}
        for n in nodes:
            for sort, key, edge_field, decl, target in nfa.edges[n]:
                if key in grouped:
                    old = grouped[key]
                    grouped[key] = (min(old[0], sort), old[1], old[2], old[3] | {target})
                else:
                    grouped[key] = (sort, edge_field, decl, {target})
        items = sorted(grouped.items(), key=lambda kv: kv[1][0])
        prods: list[Production] = []
        for key, (_sort, prod_field, decl, targets) in items:
            closed = nfa.closure(targets)
            if closed not in index:
                index[closed] = len(index)
                todo.append(closed)
            prods.append(Production(key, 0, index[closed], prod_field, decl))
        if final in nodes:
            prods.append(Production(EE, 0, -1, None))
        if ct.mixed and nodes & content_nodes:
            prods.append(Production(CH_UNTYPED, 0, index[nodes], None))
        for code, prod in enumerate(prods):
            prod.code = code
        grammar.states.append(prods)
    # BFS discovery order is the state numbering; states were appended in that order
    return grammar


def _particle(nfa: _Nfa, p: Particle, cur: int, fields: list[Field], schema: SchemaSet,
              repeated: bool, optional: bool) -> int:
    repeated = repeated or p.max is None or p.max > 1
    optional = optional or p.min == 0
    # one field per particle, shared by all its unrolled copies
    proto = _make_fields(p.term, fields, schema, repeated, optional, p.max)
    return _sub(nfa, p, cur, proto, schema)


def _make_fields(term, fields: list[Field], schema: SchemaSet, repeated: bool,
                 optional: bool, max_occurs: int | None) -> dict[int, Field]:
    """Fields for the element particles under `term`, keyed by id of the particle term."""
    out: dict[int, Field] = {}
    if isinstance(term, ElementDecl):
        members = schema.substitutes(term) if term.is_global else [term]
        is_subst = term.is_global and (term.abstract or len(members) > 1)
        simple = term.type if isinstance(term.type, SimpleType) else None
        fld = Field(term.qname[1], "subst" if is_subst else "elem", term, simple,
                    is_list=repeated, optional=optional,
                    max_occurs=max_occurs if repeated and max_occurs and max_occurs > 1 else None)
        twin = next((f for f in fields if f.name == fld.name), None)
        if twin is not None and isinstance(twin.decl, ElementDecl) and twin.decl.qname == term.qname:
            # the same element in two branches of a choice: one field serves both
            twin.optional = twin.optional or optional
            twin.is_list = twin.is_list or repeated
            fld = twin
        else:
            fields.append(fld)
        out[id(term)] = fld
    elif isinstance(term, Group):
        # A repeated group of several particles gives one list per particle; the encoder
        # writes them grouped in schema order, which the grammar then accepts or refuses.
        for sub in term.particles:
            sub_rep = repeated or sub.max is None or sub.max > 1
            sub_opt = optional or sub.min == 0 or term.kind == "choice"
            limit = None if repeated else sub.max
            out.update(_make_fields(sub.term, fields, schema, sub_rep, sub_opt, limit))
    return out


def _term(nfa: _Nfa, term, cur: int, proto: dict[int, Field], schema: SchemaSet) -> int:
    if isinstance(term, ElementDecl):
        end = nfa.node()
        nfa.position += 1
        members = schema.substitutes(term) if term.is_global else [term]
        members.sort(key=lambda d: (d.qname[1], d.qname[0]))
        for i, member in enumerate(members):
            nfa.edge(cur, (1, nfa.position, i), element_key(member), proto[id(term)], member,
                     end)
        return end
    if isinstance(term, Wildcard):
        end = nfa.node()
        nfa.edge(cur, (2,), SE_ANY, None, None, end)
        return end
    assert isinstance(term, Group)
    if term.kind == "sequence":
        for sub in term.particles:
            cur = _sub(nfa, sub, cur, proto, schema)
        return cur
    end = nfa.node()
    if not term.particles:
        nfa.eps[cur].append(end)
    for sub in term.particles:
        branch = nfa.node()
        nfa.eps[cur].append(branch)
        nfa.eps[_sub(nfa, sub, branch, proto, schema)].append(end)
    return end


def _sub(nfa: _Nfa, p: Particle, cur: int, proto: dict[int, Field], schema: SchemaSet) -> int:
    """A particle: its minimum copies, then the optional rest (EXI 1.0 §8.5.4.1.5)."""
    for _ in range(p.min):
        cur = _term(nfa, p.term, cur, proto, schema)
    if p.max is None or p.max > UNROLL_LIMIT:
        # A loop has the same productions in every state as the unrolled copies, except
        # that it does not stop after the last one: the codec checks that count instead.
        loop = nfa.node()
        nfa.eps[cur].append(loop)
        nfa.eps[_term(nfa, p.term, loop, proto, schema)].append(loop)
        return loop
    if p.max > p.min:
        # each optional copy may be skipped straight to one shared exit, which keeps every
        # state's epsilon closure small (a chain of exits would be quadratic)
        exit_ = nfa.node()
        for _ in range(p.max - p.min):
            nfa.eps[cur].append(exit_)
            cur = _term(nfa, p.term, cur, proto, schema)
        nfa.eps[cur].append(exit_)
        cur = exit_
    return cur
