"""A scripted station process for the outage test:

    python -m tests.host.ocpp.stationproc DB ENDPOINT TRANSACTIONS [STEP]

It continues the transactions its database left open (a SIGKILLed run), starts new ones
until TRANSACTIONS exist, each with a few Updated events carrying meter values and an
Ended, and prints ``done`` once every event is acknowledged by the CSMS. STEP: seconds
between events (default 0.05), so meter values come 20 times a second: the bar's "every
second" on a compressed clock.
"""

from __future__ import annotations

import asyncio
import sys
import time

from host.ocpp.devmodel import Component, DeviceModel, Variable
from host.ocpp.driver import Settings, StationDriver
from host.ocpp.machine import StationConnection
from host.ocpp.messages import StationInfo
from host.ocpp.store import open_db
from host.ocpp.txqueue import MeterValue, SampledValue, TxQueue
from host.ocpp.variables import station_variables

UPDATES = 5  # Updated events per transaction
STEP = 0.05  # seconds between events (default): fast, so kills land mid-transaction


def meter(wh: float) -> list[MeterValue]:
    return [MeterValue(time.time(), (SampledValue(wh, context="Sample.Periodic"),))]


async def main(path: str, endpoint: str, total: int, step: float = STEP) -> None:
    db = open_db(path)
    model = DeviceModel(db, station_variables(evses=2))
    comm = Component("OCPPCommCtrlr")
    for name, value in [("RetryBackOffWaitMinimum", "1"), ("RetryBackOffRandomRange", "0"),
                        ("RetryBackOffRepeatTimes", "0")]:  # fmt: skip
        model.set_own(comm, Variable(name), value)
    model.set_own(comm, Variable("MessageTimeout", "Default"), "5")
    st = StationConnection(queue=TxQueue(db), model=model,
                           station=StationInfo("outage-test", "v2gate"))  # fmt: skip
    driver = StationDriver(st, Settings(endpoint, "CS1"))
    task = asyncio.create_task(driver.run())

    async def finish(tx: str, next_seq: int) -> None:
        for seq in range(next_seq, UPDATES + 1):
            st.transaction_updated(tx, now=time.time(), trigger_reason="MeterValuePeriodic",
                                   meter_values=meter(100.0 * seq))  # fmt: skip
            driver.kick()
            await asyncio.sleep(step)
        st.transaction_ended(tx, now=time.time(), trigger_reason="StopAuthorized",
                             stopped_reason="Local", meter_values=meter(1000.0))  # fmt: skip
        driver.kick()
        await asyncio.sleep(step)

    for open_tx in st.queue.open_transactions():
        await finish(open_tx.tx_id, open_tx.next_seq)
    started = db.execute("SELECT COUNT(*) FROM tx").fetchone()[0]
    for n in range(started, total):
        tx = f"tx{n:03d}"
        st.transaction_started(tx, now=time.time(), trigger_reason="Authorized", evse_id=1 + n % 2,
                               meter_values=meter(0.0))  # fmt: skip
        driver.kick()
        await asyncio.sleep(step)
        await finish(tx, 1)
    while st.queue.pending_count():
        await asyncio.sleep(0.05)
    print("done", flush=True)
    task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]),
                     float(sys.argv[4]) if len(sys.argv) > 4 else STEP))  # fmt: skip
