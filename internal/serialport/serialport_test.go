package serialport

import (
	"errors"
	"strings"
	"testing"

	"go.bug.st/serial"

	"github.com/fluentbit-go/fluentbit-go/config"
)

func TestMode(t *testing.T) {
	m, err := Mode(250000, 7, " Even", "2")
	if err != nil || m != (serial.Mode{BaudRate: 250000, DataBits: 7, Parity: serial.EvenParity, StopBits: serial.TwoStopBits}) {
		t.Fatalf("Mode = %+v, %v", m, err)
	}
	for _, tc := range []struct {
		bitrate, dataBits int
		parity, stop      string
		key               string
	}{
		{0, 8, "none", "1", "bitrate"},
		{9600, 9, "none", "1", "data_bits"},
		{9600, 8, "n", "1", "parity"},
		{9600, 8, "none", "1.5", "stop_bits"},
		{9600, 8, "none", "3", "stop_bits"},
	} {
		_, err := Mode(tc.bitrate, tc.dataBits, tc.parity, tc.stop)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%+v: %v, want an error on %s", tc, err, tc.key)
		}
	}
}

func TestOpenErrorNamesTheKey(t *testing.T) {
	m := serial.Mode{BaudRate: 123, Parity: serial.NoParity}
	refused := errors.New("Invalid serial port: error configuring port")
	for _, tc := range []struct {
		mode serial.Mode
		err  error
		key  string
	}{
		{m, refused, "bitrate"},
		{serial.Mode{BaudRate: 9600, Parity: serial.MarkParity}, refused, "parity"},
		{m, errors.New("permission denied"), "file"},
	} {
		err := OpenError("/dev/ttyS9", tc.mode, "x", tc.err)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(err.Error(), "/dev/ttyS9") {
			t.Errorf("%v: %v, want an error on %s naming the device", tc.err, err, tc.key)
		}
	}
}
