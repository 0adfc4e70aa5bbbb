"""`v2gate pki`: a test/lab PKI for ISO 15118 and OCPP, and the checks a gateway runs on
the certificates it is given (`check`, which `v2gate run` is to call before it starts)."""
