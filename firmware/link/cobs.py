"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999).

COBS removes every 0x00 from a frame so that 0x00 can delimit frames on the UART: a
receiver that joins mid-stream or loses bytes resynchronises at the next delimiter.
Overhead is one byte per 254 bytes of payload, plus one.
"""


class CobsError(ValueError):
    pass


def encode(data):
    out = bytearray(len(data) + len(data) // 254 + 2)
    code_at = 0  # where the current block's length byte goes
    code = 1
    o = 1
    after_full = False  # the open block only exists because the previous one was full
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
            after_full = False
        else:
            out[o] = b
            o += 1
            code += 1
            after_full = False
            if code == 0xFF:  # a full 254-byte block has no implied zero after it
                out[code_at] = code
                code_at = o
                o += 1
                code = 1
                after_full = True
    if after_full:
        o -= 1  # data ended exactly at a full block: no empty block after it
    else:
        out[code_at] = code
    return bytes(out[:o])


def decode(data):
    n = len(data)
    out = bytearray(n)
    i = 0
    o = 0
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError("zero byte inside a COBS block")
        end = i + code
        if end > n:
            raise CobsError("COBS block runs past the end of the frame")
        i += 1
        while i < end:
            b = data[i]
            if b == 0:
                raise CobsError("zero byte inside a COBS block")
            out[o] = b
            o += 1
            i += 1
        if code != 0xFF and i < n:
            out[o] = 0
            o += 1
    return bytes(out[:o])
