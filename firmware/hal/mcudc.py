"""DC charger hardware on the microcontroller ports (rp2, esp32, stm32): the pins of a
board's `dc` section, behind the HAL contract of hal/base.py. Loaded only by a board
with a `dc` section (firmware/hal/mcu.py attaches it).

Carrier-board conventions, as for the AC inputs (hal/mcu.py): a broken wire reads as
the unsafe case. The aux contacts are NO contacts to GND with the pull-up (closed =
low; a broken wire reads open, which the controller takes as no feedback while closed);
the IMD's alarm relay holds its output low while healthy (high = alarm, IMD unpowered
or wire off); coils, precharge relay and the power-stage enable are active high and
start low. dc_link_v comes through a divider on `pins.dc_link_adc`: with `dc.link_cal`
(num, den, offset_dv), dv = counts * num // den + offset_dv. These carriers have no
reading of the IMD's resistance (its PWM or Modbus output): imd_kohm() is -1.
"""

from firmware.link.dcmessages import DC_MINUS, DC_MINUS_AUX, DC_PLUS, DC_PLUS_AUX, DC_PRECHARGE


class McuDc:
    def __init__(self, hal, board, machine, adc):
        Pin = machine.Pin
        pins = board["pins"]
        pin = hal._pin

        def out(role):
            p = pins.get(role)
            return Pin(pin(p), Pin.OUT, value=0).value if p is not None else None

        def inp(role):
            return Pin(pin(pins[role]), Pin.IN, Pin.PULL_UP).value

        self._plus = out("dc_plus_drive")
        self._minus = out("dc_minus_drive")
        self._pre = out("dc_precharge_drive")  # None on a board without the relay
        self._stage = out("power_stage_enable")
        self._plus_aux = inp("dc_plus_aux")
        self._minus_aux = inp("dc_minus_aux")
        self._imd = inp("imd_alarm")
        self._link = adc(pins["dc_link_adc"]).read_u16
        self._cal = board["dc"]["link_cal"]
        self._shift = hal._shift
        # the CP ADC is read in a hard IRQ on rp2 and stm32: a main-context read keeps
        # IRQs off for its one conversion, as ntc_counts does
        self._guard = hal._adc_guard
        self._irq_off = hal._irq_off
        self._irq_on = hal._irq_on

    def dc_contactors(self, bits):
        self._plus(1 if bits & DC_PLUS else 0)
        self._minus(1 if bits & DC_MINUS else 0)
        pre = self._pre
        if pre is not None:
            pre(1 if bits & DC_PRECHARGE else 0)

    def dc_aux(self):
        bits = 0
        if self._plus_aux() == 0:
            bits |= DC_PLUS_AUX
        if self._minus_aux() == 0:
            bits |= DC_MINUS_AUX
        return bits

    def dc_link_dv(self):
        read = self._link
        if self._guard:
            state = self._irq_off()
            v = read()
            self._irq_on(state)
        else:
            v = read()
        num, den, offset = self._cal
        return (v >> self._shift) * num // den + offset

    def imd_alarm(self):
        return self._imd() == 1

    def imd_kohm(self):
        return -1

    def power_stage(self, on, target_dv):
        self._stage(1 if on else 0)  # the host sets the stage's voltage (target_dv unused)


def attach(hal, board, machine, adc):
    """Give `hal` the DC methods of hal/base.py, bound to the board's DC pins."""
    dc = McuDc(hal, board, machine, adc)
    hal.dc_contactors = dc.dc_contactors
    hal.dc_aux = dc.dc_aux
    hal.dc_link_dv = dc.dc_link_dv
    hal.imd_alarm = dc.imd_alarm
    hal.imd_kohm = dc.imd_kohm
    hal.power_stage = dc.power_stage
    return dc
