#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_net (format in tests/fuzz/fuzz_net.c) into
tests/fuzz/seeds/fuzz_net/: rx buffers posted and a tx chain (header +
frame), then kicks and packets from the tap; variants without mergeable
buffers, with a self-referencing indirect table and with a tx loop."""
import os
import struct

BASE = 0x40000000
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_net")


def seed(flags, qsize_code, ops, extra=None):
    mem = bytearray(0x7000)
    for i in range(4):  # rx: 4 writable buffers of 0x800 at 0x2000
        struct.pack_into('<QIHH', mem, 0x000 + 16 * i, BASE + 0x2000 + i * 0x800, 0x800, 2, 0)
    struct.pack_into('<HH4H', mem, 0x400, 0, 4, 0, 1, 2, 3)
    # tx: 12-byte header + 100 bytes of frame
    struct.pack_into('<QIHH', mem, 0x800, BASE + 0x6000, 12, 1, 1)
    struct.pack_into('<QIHH', mem, 0x810, BASE + 0x6100, 100, 0, 0)
    struct.pack_into('<HHH', mem, 0xc00, 0, 1, 0)
    if extra:
        extra(mem)
    out = bytes([flags, qsize_code]) + struct.pack('<H', len(mem)) + bytes(mem)
    for op in ops:
        out += struct.pack('<BBHI', *op)
    return out


def indirect(m):
    struct.pack_into('<QIHH', m, 0x800, BASE + 0x800, 32, 4, 0)


def tx_loop(m):
    struct.pack_into('<QIHH', m, 0x810, BASE + 0x6100, 100, 1, 0)


OPS = [(2, 0, 0, 0), (6, 0x41, 0, 1000), (2, 1, 0, 0), (6, 0x42, 0, 5000),
       (6, 0x43, 0x0301, 60000), (2, 0, 0, 0)]
os.makedirs(HERE, exist_ok=True)
for name, data in (("mrg_eventidx", seed(0x1f, 4, OPS)), ("single_chain", seed(0x1b, 4, OPS)),
                   ("indirect", seed(0x07, 4, OPS, indirect)), ("tx_loop", seed(0x1f, 4, OPS, tx_loop))):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
