#!/usr/bin/python3
"""A Modbus RTU device for the modbus input's tests, played by pymodbus (Debian's
python3-pymodbus): RTU framing over TCP (`tcp PORT`) or over a serial line (`serial DEV
BITRATE PARITY`). Unit 1 is a power meter: input registers 0-1 hold 230.5 as float32
(ABCD), 6-7 hold 5.25 as float32 word-swapped (CDAB); holding register 7 holds 1007;
coil 3 is on. Unit 2 has input register 0 = 77. Other units do not answer."""
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartSerialServer, StartTcpServer
from pymodbus.transaction import ModbusRtuFramer


def regs_f32(v, swap_words=False):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [lo, hi] if swap_words else [hi, lo]


ir = [0] * 20
ir[0:2] = regs_f32(230.5)
ir[6:8] = regs_f32(5.25, swap_words=True)
hr = [1000 + i for i in range(20)]
co = [False] * 16
co[3] = True
meter = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [False] * 16),
    co=ModbusSequentialDataBlock(0, co),
    hr=ModbusSequentialDataBlock(0, hr),
    ir=ModbusSequentialDataBlock(0, ir),
    zero_mode=True,
)
io = ModbusSlaveContext(
    di=ModbusSequentialDataBlock(0, [False]),
    co=ModbusSequentialDataBlock(0, [False]),
    hr=ModbusSequentialDataBlock(0, [0]),
    ir=ModbusSequentialDataBlock(0, [77]),
    zero_mode=True,
)
context = ModbusServerContext(slaves={1: meter, 2: io}, single=False)

if sys.argv[1] == "tcp":
    StartTcpServer(context=context, address=("127.0.0.1", int(sys.argv[2])), framer=ModbusRtuFramer)
else:
    StartSerialServer(context=context, framer=ModbusRtuFramer, port=sys.argv[2],
                      baudrate=int(sys.argv[3]), parity=sys.argv[4], bytesize=8, stopbits=1,
                      timeout=0.05)
