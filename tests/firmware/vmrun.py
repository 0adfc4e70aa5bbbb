# Runs one firmware test function under MicroPython: vmrun.py MODULE FUNCTION
import sys

mod = __import__(sys.argv[1], None, None, ("x",))
getattr(mod, sys.argv[2])()
print("PASS")
