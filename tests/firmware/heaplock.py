"""MicroPython's heap lock for the allocation checks of the firmware-vm tests: inside it
any allocation raises MemoryError. CPython has none; there the rest of each check runs."""

try:
    from micropython import heap_lock, heap_unlock
except ImportError:  # CPython

    def heap_lock():
        pass

    def heap_unlock():
        pass
