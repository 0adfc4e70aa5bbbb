"""NTC temperature in fixed point and continuous thermal foldback.

NtcTable: the Beta equation, R(T) = R25 * exp(B * (1/T - 1/298.15)), is evaluated
once at boot into a table of ADC counts every 5 C from -40 C to 150 C (floats are
fine at boot); each tick then finds the counts by bisection and interpolates
linearly in integers: no allocation, 0.1 C resolution, error well under the sensor's
own tolerance. Counts beyond the table's ends mean a broken sensor: above the -40 C
end the divider sees an open NTC, below the 150 C end a short.

Foldback: the allowed current falls linearly from the full rating at the start
threshold (default 85 % of the rated limit) to zero at the limit. It never advertises
less than 6 A: below that it stops instead (IEC 61851-1 has no duty under 6 A). Going
back up uses play (backlash) hysteresis: the temperature that sets the limit only
follows a falling reading once it is `hysteresis_dc` lower, so a sensor hovering at
one point does not make the PWM hunt.
"""

import math
from array import array

from firmware.compat import const

T_MIN_DC = const(-400)
T_STEP_DC = const(50)
_POINTS = const(39)  # -40 .. 150 C
SENSOR_OK = const(0)
SENSOR_OPEN = const(1)
SENSOR_SHORT = const(2)
MIN_CURRENT_DA = const(60)


class NtcTable:
    def __init__(self, beta, r25, r_series, adc_max):
        self.counts = array("H", [0] * _POINTS)  # falling with temperature
        for i in range(_POINTS):
            t = (T_MIN_DC + i * T_STEP_DC) / 10 + 273.15
            r = r25 * math.exp(beta * (1 / t - 1 / 298.15))
            self.counts[i] = int(adc_max * r / (r + r_series) + 0.5)
        self.status = SENSOR_OK

    def counts_at(self, temp_dc):
        """Inverse of to_dc on the table (for simulators and tests)."""
        i = (temp_dc - T_MIN_DC) // T_STEP_DC
        i = 0 if i < 0 else (_POINTS - 2 if i > _POINTS - 2 else i)
        c0 = self.counts[i]
        c1 = self.counts[i + 1]
        return c0 - (c0 - c1) * (temp_dc - T_MIN_DC - i * T_STEP_DC) // T_STEP_DC

    def to_dc(self, counts):
        """Temperature in 0.1 C; sets self.status, and returns the nearest end when broken."""
        c = self.counts
        if counts > c[0]:
            self.status = SENSOR_OPEN
            return T_MIN_DC
        if counts < c[_POINTS - 1]:
            self.status = SENSOR_SHORT
            return T_MIN_DC + (_POINTS - 1) * T_STEP_DC
        self.status = SENSOR_OK
        lo = 0
        hi = _POINTS - 1
        while hi - lo > 1:  # c[lo] >= counts >= c[hi]
            mid = (lo + hi) >> 1
            if c[mid] >= counts:
                lo = mid
            else:
                hi = mid
        span = c[lo] - c[hi]
        frac = (c[lo] - counts) * T_STEP_DC // span if span else 0
        return T_MIN_DC + lo * T_STEP_DC + frac


class Foldback:
    def __init__(self, limit_dc, start_pct, hysteresis_dc):
        self.start_pct = start_pct
        self.set_limit(limit_dc)
        self.hysteresis_dc = hysteresis_dc
        self.effective_dc = -1000

    def set_limit(self, limit_dc):
        """A new limit (the operator's, at most the board's); derating starts at the same
        share of it. The hysteresis state carries on."""
        self.limit_dc = limit_dc
        self.start_dc = limit_dc * self.start_pct // 100

    def follow(self, temp_dc):
        """Update the hysteresis with a new reading; returns the temperature that counts."""
        e = self.effective_dc
        if temp_dc > e:
            e = temp_dc
        elif temp_dc + self.hysteresis_dc < e:
            e = temp_dc + self.hysteresis_dc
        self.effective_dc = e
        return e

    def limit_da(self, rated_da):
        """Allowed current for the current effective temperature: rated, derated, or 0."""
        e = self.effective_dc
        if e <= self.start_dc:
            return rated_da
        if e >= self.limit_dc:
            return 0
        allowed = rated_da * (self.limit_dc - e) // (self.limit_dc - self.start_dc)
        return allowed if allowed >= MIN_CURRENT_DA else 0
