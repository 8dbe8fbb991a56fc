#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_virtqueue and fuzz_blk (format described in
tests/fuzz/fuzz_virtio_harness.h) into tests/fuzz/seeds/<target>/.  Run it
again after changing the format; the seeds are committed."""
import os
import struct

BASE = 0x40000000
DESC, AVAIL, USED = 0x000, 0x400, 0x600
HERE = os.path.dirname(os.path.abspath(__file__))
NEXT, WRITE, INDIRECT = 1, 2, 4


class Seed:
    def __init__(self, features=3, qlog2=4):
        self.features = features
        self.qlog2 = qlog2
        self.mem = bytearray(0xa00)
        self.ops = b""
        self.avail_idx = 0

    def put(self, off, data):
        if off + len(data) > len(self.mem):
            self.mem.extend(bytes(off + len(data) - len(self.mem)))
        self.mem[off:off + len(data)] = data

    def desc(self, i, off, length, flags=0, nxt=0):
        self.put(DESC + 16 * i, struct.pack("<QIHH", BASE + off, length, flags, nxt))

    def table(self, off, entries):
        for k, (boff, length, flags, nxt) in enumerate(entries):
            self.put(off + 16 * k, struct.pack("<QIHH", BASE + boff, length, flags, nxt))

    def publish(self, head):
        self.put(AVAIL + 4 + 2 * self.avail_idx, struct.pack("<H", head))
        self.avail_idx += 1
        self.put(AVAIL, struct.pack("<HH", 0, self.avail_idx))

    def op(self, op, arg=0, off=0, val=0):
        self.ops += struct.pack("<BBHI", op, arg, off, val)

    def bytes(self):
        return struct.pack("<BBH", self.features, self.qlog2, len(self.mem)) + bytes(self.mem) + self.ops


def write(target, name, seed):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(seed.bytes())


# ---- fuzz_virtqueue -------------------------------------------------------
s = Seed()
s.desc(0, 0x900, 16, NEXT, 1)
s.desc(1, 0x980, 64, WRITE)
s.publish(0)
write("fuzz_virtqueue", "direct_chain", s)

s = Seed()
s.desc(0, 0x900, 48, INDIRECT)
s.table(0x900, [(0x940, 8, NEXT, 1), (0x960, 8, WRITE | NEXT, 2), (0x980, 16, WRITE, 0)])
s.publish(0)
write("fuzz_virtqueue", "indirect_chain", s)

s = Seed()
s.desc(0, 0x900, 8, NEXT, 1)
s.desc(1, 0x900, 8, NEXT, 0)
s.publish(0)
write("fuzz_virtqueue", "loop", s)

s = Seed(features=0)  # no EVENT_IDX / INDIRECT
for i in range(4):
    s.desc(i, 0x900 + 32 * i, 32, WRITE)
    s.publish(i)
s.op(4, val=2)          # publish only two first
s.op(4, val=4)
s.op(3, off=AVAIL + 4, val=7)   # rewrite a ring entry
s.op(4, val=5)
s.op(5)                 # reset + bring up again
s.op(2, arg=0)
write("fuzz_virtqueue", "publish_reset", s)

s = Seed()
for off in (0x000, 0x004, 0x008, 0x010, 0x034, 0x044, 0x060, 0x070, 0x0fc, 0x100):
    s.op(1, arg=2, off=off)
s.op(0, arg=2, off=0x030, val=1)   # QueueSel 1
s.op(0, arg=2, off=0x038, val=8)   # QueueNum
s.op(0, arg=2, off=0x044, val=1)   # QueueReady
s.op(0, arg=2, off=0x064, val=3)   # InterruptACK
s.op(0, arg=2, off=0x070, val=0)   # reset
s.op(0, arg=0, off=0x070, val=0x0f)
write("fuzz_virtqueue", "registers", s)

# ---- fuzz_blk -------------------------------------------------------------
def blk_req(s, head, hdr_off, rtype, sector, data_off, data_len, data_writable, status_off,
            indirect=False, table_off=0):
    s.put(hdr_off, struct.pack("<IIQ", rtype, 0, sector))
    bufs = [(hdr_off, 16, 0)]
    if data_len:
        bufs.append((data_off, data_len, WRITE if data_writable else 0))
    bufs.append((status_off, 1, WRITE))
    if indirect:
        s.table(table_off, [(o, l, f | (NEXT if k + 1 < len(bufs) else 0), k + 1)
                            for k, (o, l, f) in enumerate(bufs)])
        s.desc(head, table_off, 16 * len(bufs), INDIRECT)
        s.publish(head)
        return head + 1
    for k, (o, l, f) in enumerate(bufs):
        s.desc(head + k, o, l, f | (NEXT if k + 1 < len(bufs) else 0), head + k + 1)
    s.publish(head)
    return head + len(bufs)


s = Seed()
blk_req(s, 0, 0x900, 0, 1, 0x1000, 512, True, 0x910)
write("fuzz_blk", "read", s)

s = Seed()
blk_req(s, 0, 0x900, 1, 2, 0x1000, 1024, False, 0x910)
write("fuzz_blk", "write", s)

s = Seed()
h = blk_req(s, 0, 0x900, 1, 8, 0x1000, 512, False, 0x910)
h = blk_req(s, h, 0x920, 4, 0, 0, 0, False, 0x930)
h = blk_req(s, h, 0x940, 8, 0, 0x960, 20, True, 0x980)
write("fuzz_blk", "write_flush_getid", s)

s = Seed()
s.put(0x9a0, struct.pack("<QII", 4, 8, 0))
h = blk_req(s, 0, 0x900, 11, 0, 0x9a0, 16, False, 0x910)
s.put(0x9c0, struct.pack("<QII", 16, 8, 1))
h = blk_req(s, h, 0x920, 13, 0, 0x9c0, 16, False, 0x930)
write("fuzz_blk", "discard_zeroes", s)

s = Seed()
blk_req(s, 0, 0x900, 0, 0, 0x1000, 4096, True, 0x910, indirect=True, table_off=0x940)
write("fuzz_blk", "read_indirect", s)

s = Seed(features=3 | 4)  # read-only image
blk_req(s, 0, 0x900, 1, 0, 0x1000, 512, False, 0x910)
write("fuzz_blk", "write_readonly", s)

s = Seed(features=3 | 0x10)  # cache=none
h = 0
for i in range(4):
    h = blk_req(s, h, 0x900 + 0x20 * i, i & 1, 8 * i, 0x1000 + 0x1000 * i, 4096, not (i & 1),
                0x910 + 0x20 * i)
write("fuzz_blk", "batch_cache_none", s)
