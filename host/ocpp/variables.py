"""The components and variables this station has (OCPP 2.0.1 Part 2 Appendix 2 /
OCPP-J Part 4 §8 names), with the defaults it starts from.

Only variables the code reads or keeps up to date belong here: a CSMS that reads one must
get the truth. Defaults marked "local choice" are ours, not the standard's.
"""

from __future__ import annotations

from .devmodel import (
    Attribute,
    AttributeDef,
    Component,
    DataType,
    Mutability,
    Variable,
    VariableDef,
)
from .smartcharging import MAX_PERIODS, MAX_STACK_LEVEL

RO, RW, WO = Mutability.READ_ONLY, Mutability.READ_WRITE, Mutability.WRITE_ONLY

MEASURANDS = (
    "Current.Import", "Current.Export", "Current.Offered", "Energy.Active.Import.Register",
    "Energy.Active.Export.Register", "Power.Active.Import", "Power.Active.Export",
    "Power.Offered", "Voltage", "Frequency", "SoC",
)  # fmt: skip
TX_POINTS = ("ParkingBayOccupancy", "EVConnected", "Authorized", "DataSigned",
             "PowerPathClosed", "EnergyTransfer")  # fmt: skip
AVAILABILITY = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")


def _var(component: Component, name: str, data_type: DataType, default: str,
         mutability: Mutability = RW, *, instance: str | None = None,
         **characteristics) -> VariableDef:  # fmt: skip
    return VariableDef(component, Variable(name, instance), data_type,
                       (AttributeDef(Attribute.ACTUAL, mutability, default),), **characteristics)  # fmt: skip


def station_variables(*, evses: int = 1, security_profile: int = 1,
                      max_power_w: float = 11000.0) -> list[VariableDef]:  # fmt: skip
    comm = Component("OCPPCommCtrlr")
    tx = Component("TxCtrlr")
    sampled = Component("SampledDataCtrlr")
    aligned = Component("AlignedDataCtrlr")
    auth = Component("AuthCtrlr")
    security = Component("SecurityCtrlr")
    local_list = Component("LocalAuthListCtrlr")
    cache = Component("AuthCacheCtrlr")
    device = Component("DeviceDataCtrlr")
    station = Component("ChargingStation")
    smart = Component("SmartChargingCtrlr")
    INT, D, B, S = DataType.INTEGER, DataType.DECIMAL, DataType.BOOLEAN, DataType.STRING
    ML, OL, SL = DataType.MEMBER_LIST, DataType.OPTION_LIST, DataType.SEQUENCE_LIST
    out = [
        _var(comm, "HeartbeatInterval", INT, "300", unit="s", min_limit=1),
        _var(comm, "RetryBackOffRepeatTimes", INT, "5", min_limit=0),
        _var(comm, "RetryBackOffRandomRange", INT, "10", unit="s", min_limit=0),
        _var(comm, "RetryBackOffWaitMinimum", INT, "5", unit="s", min_limit=0),
        _var(comm, "WebSocketPingInterval", INT, "30", unit="s", min_limit=0),
        _var(comm, "MessageTimeout", INT, "30", RO, instance="Default", unit="s"),
        _var(comm, "MessageAttemptsTransactionEvent", INT, "5", min_limit=1),
        _var(comm, "MessageAttemptIntervalTransactionEvent", INT, "10", unit="s", min_limit=0),
        _var(comm, "OfflineThreshold", INT, "60", unit="s", min_limit=0),
        # a new connection order takes effect on the next start
        _var(comm, "NetworkConfigurationPriority", SL, "0", values_list=("0", "1", "2"),
             reboot_required=True),  # fmt: skip
        _var(tx, "EVConnectionTimeOut", INT, "60", unit="s", min_limit=0),
        _var(tx, "StopTxOnEVSideDisconnect", B, "true"),
        _var(tx, "StopTxOnInvalidId", B, "true"),
        _var(tx, "TxStartPoint", ML, "PowerPathClosed", values_list=TX_POINTS),
        _var(tx, "TxStopPoint", ML, "EVConnected,Authorized", values_list=TX_POINTS),
        _var(sampled, "TxStartedMeasurands", ML, "Energy.Active.Import.Register",
             values_list=MEASURANDS),  # fmt: skip
        _var(sampled, "TxUpdatedMeasurands", ML, "Energy.Active.Import.Register,Power.Active.Import",
             values_list=MEASURANDS),  # fmt: skip
        _var(sampled, "TxEndedMeasurands", ML, "Energy.Active.Import.Register",
             values_list=MEASURANDS),  # fmt: skip
        _var(sampled, "TxUpdatedInterval", INT, "60", unit="s", min_limit=0),
        _var(sampled, "TxEndedInterval", INT, "0", unit="s", min_limit=0),
        _var(aligned, "Measurands", ML, "Energy.Active.Import.Register", values_list=MEASURANDS),
        _var(aligned, "Interval", INT, "900", unit="s", min_limit=0),
        _var(auth, "Enabled", B, "true"),
        _var(auth, "AuthorizeRemoteStart", B, "true"),
        _var(auth, "LocalAuthorizeOffline", B, "true"),
        _var(auth, "LocalPreAuthorize", B, "false"),
        _var(auth, "OfflineTxForUnknownIdEnabled", B, "false"),
        _var(local_list, "Enabled", B, "true"),
        _var(local_list, "Entries", INT, "0", RO),  # kept equal to the list by auth.py
        _var(local_list, "ItemsPerMessage", INT, "256", RO),
        _var(local_list, "BytesPerMessage", INT, "65536", RO),
        _var(cache, "Enabled", B, "true"),
        _var(cache, "LifeTime", INT, "86400", unit="s", min_limit=0),  # 0: no limit
        # changed only through SetNetworkProfile + a reconnect, never directly
        _var(security, "SecurityProfile", INT, str(security_profile), RO),
        _var(security, "BasicAuthPassword", S, "", WO, max_limit=40),
        _var(security, "OrganizationName", S, "", max_limit=50),
        _var(device, "ItemsPerMessage", INT, "32", RO, instance="GetVariables"),
        _var(device, "ItemsPerMessage", INT, "32", RO, instance="SetVariables"),
        _var(device, "BytesPerMessage", INT, "65536", RO, instance="GetVariables"),
        _var(device, "BytesPerMessage", INT, "65536", RO, instance="SetVariables"),
        # GetReport: componentVariable entries a request may have, entries per NotifyReport
        _var(device, "ItemsPerMessage", INT, "20", RO, instance="GetReport"),
        _var(device, "BytesPerMessage", INT, "65536", RO, instance="GetReport"),
        # what smartcharging.SmartCharging accepts; not switchable off (hence RO)
        _var(smart, "Enabled", B, "true", RO),
        _var(smart, "Available", B, "true", RO),
        _var(smart, "ProfileStackLevel", INT, str(MAX_STACK_LEVEL), RO),
        _var(smart, "PeriodsPerSchedule", INT, str(MAX_PERIODS), RO),
        _var(smart, "ChargingScheduleChargingRateUnit", ML, "A,W", RO, values_list=("A", "W")),
        _var(station, "AvailabilityState", OL, "Available", RO, values_list=AVAILABILITY),
        _var(station, "Available", B, "true", RO),
    ]
    for n in range(1, evses + 1):
        evse = Component("EVSE", evse=n)
        conn = Component("Connector", evse=n, connector=1)
        out += [
            _var(evse, "AvailabilityState", OL, "Available", RO, values_list=AVAILABILITY),
            _var(evse, "Available", B, "true", RO),
            # Actual: what flows now; MaxSet: the rating, which the CSMS cannot raise
            VariableDef(evse, Variable("Power"), D, (
                AttributeDef(Attribute.ACTUAL, RO, "0"),
                AttributeDef(Attribute.MAX_SET, RO, f"{max_power_w:g}"),
            ), unit="W"),  # fmt: skip
            _var(conn, "AvailabilityState", OL, "Available", RO, values_list=AVAILABILITY),
            _var(conn, "ConnectorType", S, "cType2", RO, constant=True),
        ]
    return out
