"""Every host module imports on its own, first, in a clean interpreter state.

An import cycle (scenarios <-> fault_scenarios, as once) only shows when the module in the
cycle is the first one imported, so each is imported with every project module forgotten.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import host

PROBE = """
import importlib, sys
bad = []
for name in sys.argv[1:]:
    for key in [k for k in sys.modules if k.split('.')[0] in ('host', 'firmware', 'boards')]:
        del sys.modules[key]
    try:
        importlib.import_module(name)
    except ImportError as e:
        bad.append(f"{name}: {e}")
print("\\n".join(bad))
"""


@pytest.mark.unit
def test_each_host_module_imports_first() -> None:
    names = [m.name for m in pkgutil.walk_packages(host.__path__, "host.")
             if not m.name.endswith("__main__")]
    assert "host.bench.fault_scenarios" in names
    out = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""
