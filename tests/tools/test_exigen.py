"""The committed codecs under host/exi/schemas/ are exactly what the generator writes."""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from tools.exigen import schemas as schema_files
from tools.exigen.__main__ import OUT, generate
from tools.exigen.xsd import SchemaError, load_schema_set

pytestmark = pytest.mark.unit


def _schemas() -> Path:
    """The generator's XSD files: installed, or fetched from PyPI (CI has the network)."""
    try:
        return schema_files.locate()
    except schema_files.SchemasUnavailable as exc:
        if os.environ.get("V2GATE_CI") or os.environ.get("CI"):
            pytest.fail(str(exc))
        print(f"skipping: {exc}")
        pytest.skip(f"the iso15118 schemas are neither installed nor fetchable: {exc}")


def test_committed_codecs_match_a_fresh_generation(tmp_path: Path) -> None:
    schemas = _schemas()
    assert not schema_files.mismatches(schemas)
    written = generate(schemas, tmp_path)
    assert written
    for fresh in written:
        committed = OUT / fresh.name
        assert committed.exists(), f"{committed} is not committed"
        new, old = fresh.read_text(), committed.read_text()
        if new != old:
            diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                str(committed), "regenerated", n=1))
            pytest.fail(f"{committed.name} differs from a fresh generation:\n{diff[:4000]}")
    stale = {p.name for p in OUT.glob("*.py")} - {p.name for p in written} - {"__init__.py"}
    assert not stale, f"committed modules no schema generates: {sorted(stale)}"


def test_the_manifest_names_every_schema_the_codecs_were_generated_from() -> None:
    """Each committed module's header lists its inputs with their sha256: all of them are
    in the manifest with the same digest, so a fetched copy is the one we generated from."""
    manifest = schema_files.expected()
    seen = set()
    for module in OUT.glob("*.py"):
        for line in module.read_text().splitlines()[:40]:
            name, sep, digest = line.strip().partition("  sha256 ")
            if sep:
                assert manifest.get(name) == digest, f"{module.name}: {name}"
                seen.add(name)
    assert seen == set(manifest)


def test_a_changed_schema_file_is_refused(tmp_path: Path) -> None:
    schemas = _schemas()
    copy = tmp_path / "schemas"
    shutil.copytree(schemas, copy)
    target = copy / "din_spec" / "V2G_CI_MsgDataTypes.xsd"
    target.write_bytes(target.read_bytes().replace(b'value="8"', b'value="9"', 1))
    assert schema_files.mismatches(copy) == ["din_spec/V2G_CI_MsgDataTypes.xsd: sha256 differs"]


FACETS_XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="urn:t"
    targetNamespace="urn:t" elementFormDefault="qualified">
  <xs:simpleType name="idType"><xs:restriction base="xs:string">
    <xs:minLength value="2"/><xs:maxLength value="5"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="narrowIdType"><xs:restriction base="idType">
    <xs:maxLength value="4"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="keyType"><xs:restriction base="xs:hexBinary">
    <xs:length value="16"/></xs:restriction></xs:simpleType>
  <xs:simpleType name="countType"><xs:restriction base="xs:unsignedInt">
    <xs:minInclusive value="1"/></xs:restriction></xs:simpleType>
  <xs:element name="Id" type="narrowIdType"/>
  <xs:element name="Key" type="keyType"/>
  <xs:element name="Count" type="countType"/>
</xs:schema>
"""


def test_facets_are_read_and_inherited(tmp_path: Path) -> None:
    path = tmp_path / "t.xsd"
    path.write_text(FACETS_XSD)
    types = {qname[1]: decl.type for qname, decl in load_schema_set(path).elements.items()}
    assert (types["Id"].kind, types["Id"].min_len, types["Id"].max_len) == ("string", 2, 4)
    assert (types["Key"].kind, types["Key"].min_len, types["Key"].max_len) == ("hex", 16, 16)
    assert (types["Count"].kind, types["Count"].lo, types["Count"].hi) == ("uint", 1, 2**32 - 1)


def test_a_facet_the_codec_would_not_check_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.xsd"
    path.write_text(FACETS_XSD.replace('<xs:length value="16"/>', '<xs:pattern value="[0-9A-F]*"/>'))
    with pytest.raises(SchemaError, match=r"keyType: facets \['pattern'\] are not supported"):
        load_schema_set(path)
