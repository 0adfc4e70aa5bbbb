# firmware-vm helper (not a test module)
"""Tiny helpers for firmware tests that must also run on MicroPython (no pytest there)."""


def raises(exc, fn, *args, **kwargs):
    """Call fn and return the exception of type exc it raised; fail if it raised none."""
    try:
        fn(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


class FakeHal:
    """A HAL with settable inputs, for controller tests on both runtimes."""

    def __init__(self):
        self.high = 12000
        self.low = 12000
        self.feedback = False
        self.weld = False
        self.coil = False
        self.pilot = (None, None)
        self.current = 0

    def set_cp(self, high, low=None):
        self.high = high
        self.low = -12000 if low is None else low

    def sample_cp(self):
        return self.high, self.low

    def set_pilot(self, mode, duty):
        self.pilot = (mode, duty)

    def set_contactor(self, on):
        self.coil = bool(on)
        self.feedback = self.coil or self.weld

    def contactor_feedback(self):
        return self.feedback

    def current_ma(self):
        return self.current

    def temperature_dc(self, channel):
        return 250

    def feed_wdt(self):
        pass

    def reset_reason(self):
        return 1
