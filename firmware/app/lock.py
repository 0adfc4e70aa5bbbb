"""The connector lock of a socket-outlet (IEC 62196-2 / IEC 61851-1 §9.4 "locking"):
a motor (two outputs: a timed pulse one way or the other) or a solenoid (energised
while locked), with a feedback switch that reads "locked".

The controller asks each tick for locked or not (`want`) and says whether unlocking
is allowed now (`may_unlock`: contactor open and the current below the board's
threshold); the lock never unlocks otherwise. Each move drives for `pulse_ms`, then
reads the feedback: when it disagrees the move is tried again, `retries` times, and
then the lock FAILED (the controller raises F-071). A feedback that stops reading
"locked" while locked (the lock forced, the actuator or the switch failed) is the same
disagreement: the interlock "locked" opens the contactor in that tick and the lock is
driven again. FAILED stays until `reset()` (Reset(clear)).

The HAL gives `lock_drive(d)` (1: towards locked, -1: towards unlocked, 0: off; a
solenoid board holds 1 while locked) and `lock_feedback()` (True: locked).
"""

from firmware.compat import const, ticks_diff

UNLOCKED = const(0)
LOCKING = const(1)
LOCKED = const(2)
UNLOCKING = const(3)
FAILED = const(4)
NAMES = ("unlocked", "locking", "locked", "unlocking", "failed")

KINDS = ("motor", "solenoid")
PULSE_MS = const(200)  # default drive time of one move
RETRIES = const(2)  # moves again after the first, before FAILED
UNLOCK_MA = const(500)  # default: unlock only below this current


class Lock:
    def __init__(self, cfg, drive, feedback, now):
        self.motor = cfg.get("kind", "motor") == "motor"
        self.pulse_ms = cfg.get("pulse_ms", PULSE_MS)
        self.retries = cfg.get("retries", RETRIES)
        self.unlock_ma = cfg.get("unlock_ma", UNLOCK_MA)
        self._drive = drive
        self._feedback = feedback
        self.tries = 0
        self.at = now
        self.failed_locking = False  # FAILED while locking (else while unlocking)
        self.state = LOCKED if feedback() else UNLOCKED
        if self.state == LOCKED:  # found locked at boot: the controller unlocks if unwanted
            drive(1 if not self.motor else 0)

    def locked(self):
        return self.state == LOCKED

    def _start(self, lock, now):
        self.state = LOCKING if lock else UNLOCKING
        self.at = now
        if lock:
            self._drive(1)
        else:
            self._drive(-1 if self.motor else 0)

    def step(self, want, may_unlock, now):
        """One control tick. Returns True when the lock has just FAILED."""
        s = self.state
        if s == FAILED:
            return False
        fb = self._feedback()
        if s == LOCKING or s == UNLOCKING:
            if ticks_diff(now, self.at) < self.pulse_ms:
                return False
            target = s == LOCKING
            if self.motor:
                self._drive(0)
            if fb == target:
                self.state = LOCKED if target else UNLOCKED
                self.tries = 0
                return False
            self.tries += 1
            if self.tries > self.retries:
                self.state = FAILED
                self.failed_locking = target
                self._drive(0)  # a solenoid lets go: never hold a coil on a broken lock
                return True
            self._start(target, now)
            return False
        if s == LOCKED:
            if not fb:  # no longer reads locked: drive it again (counts as a try)
                self.tries = 1
                self._start(True, now)
            elif not want and may_unlock:
                self._start(False, now)
        elif fb:  # UNLOCKED but reads locked: the unlock did not hold
            self.tries = 1
            self._start(False, now)
        elif want:
            self._start(True, now)
        return False

    def reset(self, now):
        """Reset(clear): leave FAILED and take the feedback as the state again."""
        if self.state != FAILED:
            return
        self.tries = 0
        self.at = now
        self.state = LOCKED if self._feedback() else UNLOCKED
        self._drive(1 if self.state == LOCKED and not self.motor else 0)
