// Package serialport is the serial line setup two plugins share (the serial input reads
// lines, the modbus input speaks RTU): turning the bitrate, data_bits, parity and stop_bits
// keys into a port mode with errors that name the key, and naming the key at fault when
// the driver refuses to open a port. It does not read or write: each plugin owns its port
// and its reopen policy.
package serialport

import (
	"math"
	"strings"

	"go.bug.st/serial"

	"github.com/fluentbit-go/fluentbit-go/config"
)

// Mode checks a line's settings and returns the mode to open the port with. Errors are
// config.KeyErrorf errors naming bitrate, data_bits, parity or stop_bits.
func Mode(bitrate, dataBits int, parity, stopBits string) (serial.Mode, error) {
	if bitrate <= 0 || int64(bitrate) > math.MaxUint32 {
		return serial.Mode{}, config.KeyErrorf("bitrate", "%d: want the device's baud rate, e.g. 9600 or 115200", bitrate)
	}
	if dataBits < 5 || dataBits > 8 {
		return serial.Mode{}, config.KeyErrorf("data_bits", "%d: want 5, 6, 7 or 8", dataBits)
	}
	p, ok := map[string]serial.Parity{"none": serial.NoParity, "odd": serial.OddParity,
		"even": serial.EvenParity, "mark": serial.MarkParity, "space": serial.SpaceParity}[strings.ToLower(strings.TrimSpace(parity))]
	if !ok {
		return serial.Mode{}, config.KeyErrorf("parity", "%q: want none, odd, even, mark or space", parity)
	}
	var stop serial.StopBits
	switch strings.TrimSpace(stopBits) {
	case "1":
		stop = serial.OneStopBit
	case "1.5":
		// go.bug.st/serial has no 1.5 on Linux or the BSDs: say so before the device does.
		return serial.Mode{}, config.KeyErrorf("stop_bits", "1.5: not supported by serial drivers on this platform; want 1 or 2")
	case "2":
		stop = serial.TwoStopBits
	default:
		return serial.Mode{}, config.KeyErrorf("stop_bits", "%q: want 1, 1.5 or 2", stopBits)
	}
	return serial.Mode{BaudRate: bitrate, DataBits: dataBits, Parity: p, StopBits: stop}, nil
}

// OpenError turns a failure to open file with mode into a config error naming the key at
// fault: bitrate (or parity, for mark and space) when the driver refused the mode, file
// otherwise.
func OpenError(file string, mode serial.Mode, parity string, err error) error {
	// go.bug.st/serial wraps the driver's refusal of the mode in an "Invalid serial port"
	// error whose cause it does not expose; its message is all there is to go by.
	if strings.Contains(err.Error(), "configuring port") {
		// The driver refused the mode: the other settings were checked by Mode, so
		// this is the rate (or a driver without mark/space parity).
		key := "bitrate"
		if mode.Parity == serial.MarkParity || mode.Parity == serial.SpaceParity {
			key = "parity"
		}
		return config.KeyErrorf(key, "%s: the driver refused bitrate %d with parity %s: %v", file, mode.BaudRate, parity, err)
	}
	return config.KeyErrorf("file", "%s: %v", file, err)
}
