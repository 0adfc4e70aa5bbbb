"""The controller's cable part (issue 15): proximity pilot, connector lock, and the
contactor's wear counters, as functions of the Controller `c`, kept apart so that the
tick's order stays readable in controller.py: the tick calls check() after the
temperature (the cable's cap joins the thermal one) and check_lock() after the
contactor check (the interlock "locked" then sees this tick's lock); stopping() holds
a J1772 button stop closed while the current falls.
"""

from firmware.app import faults, interlocks, proximity, wear
from firmware.compat import const, ticks_diff
from firmware.link import messages as m

CABLE_CHANGED = const(10)  # event kind: PP state, rating or lock state changed
WEAR_CHANGED = const(11)  # event kind: a contactor's wear counters moved (a = index)
BUTTON_STOP_MS = const(3000)  # J1772 latch button: how long the EV gets to stop drawing
F_UNLOCK_MS = const(30000)  # in state F this long: the connector lock lets the cable go


def make_wear(board, hal):
    """The contactors' wear counters, with what the HAL kept of them: one AC contactor,
    or on a DC board the pair and the precharge relay (firmware/app/dc.py: 0 the -
    contactor, which starts every close, 1 the +, 2 the relay where there is one)."""
    ct = board["contactor"]
    dc = board.get("dc")
    n = 1 if dc is None else (3 if dc["precharge_relay"] else 2)
    w = wear.Wear(n, ct.get("min_gap_ms", wear.MIN_GAP_MS), ct.get("save_every", wear.SAVE_EVERY),
                  ct.get("load_ma", wear.LOAD_MA))
    wear.restore(w, hal)
    return w


def make_lock(board, hal, now):
    """The connector lock, on a board with a `lock` section (the module loads only there)."""
    cfg = board.get("lock")
    if cfg is None:
        return None
    from firmware.app.lock import Lock

    return Lock(cfg, hal.lock_drive, hal.lock_feedback, now)


def setup(c, hal, board, now):
    """Proximity pilot and the lock's control state (after make_wear and make_lock)."""
    c.pp = proximity.Proximity(board)
    # a tethered cable has no PP input to read, even where the HAL could (the sim's)
    c._pp_counts = getattr(hal, "pp_counts", None) if c.pp.mode else None
    if c.pp.mode and c._pp_counts is None:
        raise ValueError("board %s: pp mode %s needs a HAL with pp_counts()"
                         % (board["name"], proximity.MODES[c.pp.mode]))
    if c._pp_counts is not None:  # know the cable from the start (no EV yet)
        for _ in range(proximity.PP_CONFIRM):
            c.pp.update(c._pp_counts(), False)
    cap = c.pp.cap_da()  # thermal and cable caps together, set each tick
    c.cap_da = cap if cap < c.thermal_da else c.thermal_da
    c.pressed_at = now  # when the J1772 latch button was pressed
    c.button_stop_ms = BUTTON_STOP_MS
    cfg = board.get("lock")
    c.lock_want = False
    c.lock_hold = False  # unlocked on request (operator, F timeout) until state A
    c.lock_reported = -1
    c.f_since = now
    c.f_unlock_ms = (cfg or {}).get("f_unlock_ms", F_UNLOCK_MS)


def check(c, now):
    """Read the PP: F-070 while faulty, and the cap the cable sets with the thermal one."""
    pp = c.pp
    ev = c.cp == m.CP_B or c.cp == m.CP_C or c.cp == m.CP_D
    if c._pp_counts is not None and pp.update(c._pp_counts(), ev):
        if pp.state == proximity.PRESSED:
            c.pressed_at = now
        c.events.push(CABLE_CHANGED, pp.state, pp.rating_da, now)
    if pp.faulty():
        c._raise(faults.PROXIMITY, pp.ohms, now)
    else:
        c._clear(faults.PROXIMITY)
    cap = pp.cap_da()
    c.cap_da = cap if cap < c.thermal_da else c.thermal_da


def check_lock(c, now):
    """Lock with an EV and a valid cable; unlock on A, after f_unlock_ms in F and on the
    operator's Lock(0), never with the contactor closed or the current high, nor on a
    DC board before the pair's output is found dead."""
    lock = c.lock
    if lock is None:
        return
    if c.out_mode == m.PILOT_F:
        if ticks_diff(now, c.f_since) >= c.f_unlock_ms:
            c.lock_hold = True  # let the user take the cable while we are out of service
    else:
        c.f_since = now
    if c.cp == m.CP_A:
        c.lock_hold = False
    s = c.pp.state
    ev = c.cp == m.CP_B or c.cp == m.CP_C or c.cp == m.CP_D
    c.lock_want = not c.lock_hold and ev and (s == proximity.NONE or s == proximity.OK or s == proximity.PRESSED)
    i = c.hal.current_ma()
    may = not c.contactor and i < lock.unlock_ma and -i < lock.unlock_ma
    dc = c.dc
    if may and dc is not None:
        may = dc.dead()  # DC: not while the connector may still be live (IEC 61851-23)
    if lock.step(c.lock_want, may, now):
        c._raise(faults.CONNECTOR_LOCK, 1 if lock.failed_locking else 0, now)
    if lock.state != c.lock_reported:
        c.lock_reported = lock.state
        c.events.push(CABLE_CHANGED, c.pp.state, c.pp.rating_da, now)


def stopping(c, now):
    """J1772 latch button pressed while closed: the offer is withdrawn (X1) and the
    contactor stays closed while the current falls, until button_stop_ms; nothing
    but the button's own refusals may be standing."""
    if c.pp.state != proximity.PRESSED or c.refused & ~(interlocks.CABLE | interlocks.PILOT_NOT_PWM):
        return False
    i = c.hal.current_ma()
    load = c.wear.load_ma
    return (i >= load or -i >= load) and ticks_diff(now, c.pressed_at) < c.button_stop_ms
