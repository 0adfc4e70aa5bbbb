"""The SECC's session machines (DIN 70121 now; ISO 15118-2 and -20 next) on a shared core,
and the EvseController interface to the station."""
