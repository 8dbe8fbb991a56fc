#!/usr/bin/env python3
"""Seed for tests/fuzz/fuzz_vhost_user_net.c: a whole vhost-user-net session
(features, one 64 KiB memory region, receive and transmit rings of 16, call
and kick fds), packets arriving from the network, then GET_VRING_BASE on the
receive ring (the back-end hands its receive stash back).  Message format:
12-byte header, payload, one mode byte (bit 0: attach fds; bit 2: a packet
of 12 + (mode >> 3) * 97 bytes comes from the network).
Usage: gen_vhost_user_net_seeds.py OUTDIR"""
import os
import struct
import sys

UA = 0x7F0000000000     # the front-end's user address of guest-physical 0


def msg(req, payload=b"", mode=0):
    return struct.pack("<III", req, 1, len(payload)) + payload + bytes([mode])


def state(index, num):
    return struct.pack("<II", index, num)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    features = (1 << 32) | (1 << 29) | (1 << 15) | (1 << 11) | (1 << 1) | 1
    s = msg(1)                                         # GET_FEATURES
    s += msg(3)                                        # SET_OWNER
    s += msg(2, struct.pack("<Q", features))           # SET_FEATURES
    s += msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 0x10000, UA, 0), 1)
    for q, base in ((0, 0x1000), (1, 0x2000)):
        s += msg(8, state(q, 16))                      # SET_VRING_NUM
        s += msg(10, state(q, 0))                      # SET_VRING_BASE
        s += msg(9, struct.pack("<IIQQQQ", q, 0, UA + base, UA + base + 0x400,
                                UA + base + 0x200, 0))  # SET_VRING_ADDR
        s += msg(13, struct.pack("<Q", q), 1)          # SET_VRING_CALL
        s += msg(12, struct.pack("<Q", q), 1)          # SET_VRING_KICK
    s += msg(17, mode=4 | (20 << 3))                   # GET_QUEUE_NUM + a packet
    s += msg(17, mode=4 | (3 << 3))
    s += msg(11, state(0, 0))                          # GET_VRING_BASE (rx)
    s += msg(11, state(1, 0))                          # GET_VRING_BASE (tx)
    with open(os.path.join(out, "session"), "wb") as f:
        f.write(s)


if __name__ == "__main__":
    main()
