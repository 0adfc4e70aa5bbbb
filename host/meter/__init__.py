"""Modbus meters (RTU and TCP), their register maps, the poller that decides when export is
metered, OCMF signed values, and a simulated meter for tests and `v2gate simulate`."""
