"""OCPP 2.0.1 / 2.1 charging-station side: an on-disk transaction queue, a persisted device
model and a sans-I/O OCPP-J connection machine, with a thin websockets driver and a small
CSMS (on the `ocpp` package) for tests."""
