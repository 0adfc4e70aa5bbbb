"""Proximity pilot (PP): the cable's current rating, read from its coding resistor.

IEC 61851-1:2017 Annex B.2 (Table B.2) and IEC 62196-2: a detachable cable (case B,
an EVSE with a socket-outlet) carries a resistor Rc between PP and PE that codes its
rating: 1.5 kOhm 13 A, 680 Ohm 20 A, 220 Ohm 32 A, 100 Ohm 63 A (Rc within +-3 %).
The EVSE reads it through a pull-up (board `pp.r_pull`, Ohm, to the ADC's reference):
    ohms = r_pull * counts / (adc_max - counts)

The acceptance bands below are ours. Each holds its nominal value with room for the
resistor's 3 % and a board's divider and ADC error (about 10 % more), and the bands
do not touch: a resistance between two codings is a broken or wrong resistor, read
as out-of-band (a fault), never as the neighbour's rating. (Some controllers use
contiguous bands instead; we would rather refuse than guess a rating.)

    below 50 Ohm         short (PP on PE)                        fault
    75 .. 140 Ohm        63 A   (100 Ohm)
    160 .. 300 Ohm       32 A   (220 Ohm)
    460 .. 940 Ohm       20 A   (680 Ohm)
    1100 .. 2200 Ohm     13 A   (1.5 kOhm)
    3300 Ohm and above   open: no cable; a fault while an EV is on the CP
    anything else        out-of-band                             fault

SAE J1772 (mode "j1772"): where a 5-wire cordset brings the connector's proximity
circuit to the EVSE, PP to PE is the connector's 150 Ohm, with 330 Ohm in series
while the latch button (S3) is pressed, each in parallel with the vehicle inlet's
2.7 kOhm when plugged in (142 / 150 Ohm latched, 411 / 480 Ohm pressed). The cordset
is the board's, so its rating is the board's `pp.rating_da`; PP only says "button
pressed" (the controller then withdraws the offer and waits for the current to fall).

    below 50 Ohm         short                                   fault
    100 .. 220 Ohm       latched
    330 .. 650 Ohm       button pressed
    1000 Ohm and above   open (the cordset's wire is broken)     fault
    anything else        out-of-band                             fault

Mode "tethered" (or no `pp` section): a fixed cable, no PP input; its rating is
`pp.rating_da`, else the board's rated current.

A new reading changes the state only when PP_CONFIRM reads in a row agree, so one
noisy sample does not raise a fault, and a real one is taken within two ticks.
"""

from firmware.compat import const

# states
NONE = const(0)  # no PP input (tethered cable): the board's fixed rating
NO_CABLE = const(1)  # open with no EV on the CP: nothing plugged into the socket
OK = const(2)  # a valid coding (J1772: latched)
PRESSED = const(3)  # J1772 latch button pressed
OPEN = const(4)  # open while an EV is connected (or a J1772 cordset's wire broken)
SHORT = const(5)
OUT_OF_BAND = const(6)
NAMES = ("none", "no-cable", "ok", "button-pressed", "open", "short", "out-of-band")
FAULTY = (OPEN, SHORT, OUT_OF_BAND)

MODES = ("tethered", "iec", "j1772")

SHORT_BELOW = const(50)
# (lowest Ohm, highest Ohm, rating in 0.1 A), rising resistance
IEC_BANDS = ((75, 140, 630), (160, 300, 320), (460, 940, 200), (1100, 2200, 130))
IEC_OPEN_FROM = const(3300)
J1772_LATCHED = (100, 220)
J1772_PRESSED = (330, 650)
J1772_OPEN_FROM = const(1000)
OPEN_OHMS = const(0x7FFF)  # what an open reads as (the counts at full scale)

PP_CONFIRM = const(2)  # reads in a row before a new state is taken


def ohms_from_counts(counts, r_pull, adc_max):
    """The PP-PE resistance behind a pull-up of r_pull to the ADC reference."""
    if counts >= adc_max:
        return OPEN_OHMS
    r = r_pull * counts // (adc_max - counts)
    return OPEN_OHMS if r > OPEN_OHMS else r


def classify_iec(ohms):
    """(IEC 61851-1 Table B.2) the state a resistance reads as, with the cable's rating
    in 0.1 A, packed as state | rating << 4 (no tuple: the tick must not allocate).
    OPEN here means only "open"; the controller tells no-cable from a fault."""
    if ohms < SHORT_BELOW:
        return SHORT
    if ohms >= IEC_OPEN_FROM:
        return OPEN
    for band in IEC_BANDS:
        if band[0] <= ohms <= band[1]:
            return OK | band[2] << 4
    return OUT_OF_BAND


def classify_j1772(ohms):
    """SAE J1772 proximity with the latch switch S3: latched, pressed, or a fault."""
    if ohms < SHORT_BELOW:
        return SHORT
    if ohms >= J1772_OPEN_FROM:
        return OPEN
    if J1772_LATCHED[0] <= ohms <= J1772_LATCHED[1]:
        return OK
    if J1772_PRESSED[0] <= ohms <= J1772_PRESSED[1]:
        return PRESSED
    return OUT_OF_BAND


class Proximity:
    """The PP reading, confirmed over PP_CONFIRM ticks. `state`, `rating_da` (0 unless
    the cable may carry current) and `ohms` are read by the controller and the link."""

    def __init__(self, board):
        pp = board.get("pp") or {}
        self.mode = MODES.index(pp.get("mode", "tethered"))
        self.r_pull = pp.get("r_pull", 1000)
        self.adc_max = pp.get("adc_max", 4095)
        self.fixed_da = pp.get("rating_da", board.get("rated_da", 320))
        self.state = NONE if self.mode == 0 else NO_CABLE
        self.rating_da = self.fixed_da if self.mode != 1 else 0
        self.ohms = 0
        self._cand = -1
        self._n = 0

    def update(self, counts, ev_present):
        """Classify one ADC reading; `ev_present`: the CP sees an EV (B, C, D). Returns
        True when the state changed."""
        if self.mode == 0:
            return False
        ohms = ohms_from_counts(counts, self.r_pull, self.adc_max)
        self.ohms = ohms
        if self.mode == 1:
            packed = classify_iec(ohms)
            state = packed & 15
            rating = packed >> 4
            if state == OPEN and not ev_present:
                state = NO_CABLE
        else:
            state = classify_j1772(ohms)
            rating = self.fixed_da if state == OK or state == PRESSED else 0
        code = state | rating << 4
        if code != self._cand:
            self._cand = code
            self._n = 1
        elif self._n < PP_CONFIRM:
            self._n += 1
        if self._n < PP_CONFIRM or (state == self.state and rating == self.rating_da):
            return False
        self.state = state
        self.rating_da = rating
        return True

    def faulty(self):
        return self.state == OPEN or self.state == SHORT or self.state == OUT_OF_BAND

    def cap_da(self):
        """The current the cable allows now: its rating while valid; 0 while faulty, with
        no cable, or while the J1772 button is pressed (stop offering)."""
        if self.state == NONE:
            return self.fixed_da
        if self.state == OK:
            return self.rating_da
        return 0
