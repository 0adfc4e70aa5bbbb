"""The fleet tier: charger telemetry over MQTT with store-and-forward, and the fog node."""
