"""The HAL contract: what firmware/app needs from a board, and nothing more.

Every port (sim, rp2, esp32, stm32) implements these methods; app code calls only
these. The control tick calls them every period, so none may allocate: sample bursts
go into arrays the caller preallocated, inputs come back as bools and small ints.

    sample_cp(high, low)    fill array('H') `high` and `low` (len == CP_BURST) with raw
                            ADC counts of the pilot's high and low plateau, taken in
                            sync with the PWM (a few µs after each edge). With the
                            pilot constant (X1, F) both arrays see that level. Returns
                            the sampler's free-running sample count (mod 2**30): the
                            controller opens when it stops moving (a MicroPython IRQ
                            handler that raised once is never called again).
    set_pilot(mode, duty)   PILOT_PWM with duty in 0.01 %, PILOT_X1 (+12 V), PILOT_F (-12 V)
    duty_steps()            PWM resolution: distinct duty values per period
    set_contactor(on)       energise/release the coil (hold PWM is the HAL's business)
    contactor_feedback()    True while the auxiliary (mirror) contact reads closed
    rcd_fault()             True while the RCD (RDC-DD) signals a residual current
    rcd_test(on)            drive the RCD's test winding (self-test before a close)
    estop()                 True while the emergency stop is pressed
    ntc_counts(channel)     raw ADC counts of NTC divider `channel`
    current_ma()            measured line current (0 where the board cannot measure)
    feed_wdt()              feed the hardware watchdog
    reset_reason()          RESET_* below
    reboot()                reset the MCU

and an attribute `uart` with non-blocking read() -> bytes|None and write(bytes), and
drain(timeout_ms): wait at most that long until what was written has left the pin
(before reboot(), which would cut it off).

Boards with a `grid` section (grid voltage sensing, for export) also provide:

    grid_collect(gs)        how many samples the ADC timer wrote into gs.ring (a GridSync)
                            since the last call, continuing at the previous index (the
                            first call attaches the sampler to gs.ring and returns 0)
    converter_phase16(g16)  the power converter's reference phase (Q16 turns), given the
                            grid phase the estimator sees: for the phase-alignment check

Boards with a manual override switch (an auxiliary contact of a switch that disconnects
the EV by itself) also provide:

    manual_override()       True while the switch reads "overridden" (the controller
                            treats it as an E-stop; without the method: no switch)

Boards with a `dc` section (DC charger hardware, firmware/app/dc.py) also provide, with
the bits of firmware.link.messages (DC_PLUS, DC_MINUS, DC_PRECHARGE, DC_PLUS_AUX, DC_MINUS_AUX):

    dc_contactors(bits)     drive the + and - coils and the precharge relay, all at once
    dc_aux()                DC_PLUS_AUX | DC_MINUS_AUX as the aux contacts read closed
    dc_link_dv()            the voltage behind the contactors (the dc_link_v ADC), 0.1 V
    imd_alarm()             True while the isolation monitor's alarm output is active
    imd_kohm()              its insulation resistance reading (kohm), -1 without one
    power_stage(on, target_dv)  the power-stage enable output. target_dv is the voltage
                            the stage must hold with the pair open (precharge, isolation
                            test) where the board sets it itself (the sim plant); 0 with
                            the pair closed (the host sets the current). A board whose
                            host sets the stage's voltage ignores it.

and boards with a comparator on pins.grid_zero_cross also:

    grid_edges(es)          how many rising-edge timestamps (ticks_us mod 2**30) the pin
                            IRQ wrote into es.ring (an EdgeSync) since the last call
    grid_now_us()           ticks_us mod 2**30 now, on the clock of those timestamps
"""

from firmware.compat import const

CP_BURST = const(8)  # samples per plateau per tick

RESET_POWER_ON = const(1)
RESET_WATCHDOG = const(2)
RESET_SOFT = const(3)
RESET_OTHER = const(4)
RESET_NAMES = {1: "power-on", 2: "watchdog", 3: "soft", 4: "other"}


def mv_to_counts(mv, cal):
    """Raw ADC counts for a pilot voltage, with the board's cp_cal (num, den, offset_mv):
    mv = counts * num // den + offset_mv."""
    num, den, offset = cal
    return (mv - offset) * den // num


def counts_to_mv(counts, cal):
    num, den, offset = cal
    return counts * num // den + offset
