// Package exec runs a shell command and makes a record of every line it prints, like
// Fluent Bit's exec input: {"exec": "<line>"}, or the line parsed by a parser. The command
// runs every interval (interval_sec + interval_nsec), or once (oneshot), with /bin/sh -c.
//
//	[INPUT]
//	    Name          exec
//	    Tag           df
//	    Command       df -k / | tail -n 1
//	    Interval_Sec  10
//
// Keys (docs/exec.md has every difference from Fluent Bit):
//
//   - command (required): the shell command.
//   - parser: a parser name; a line it reads becomes the parsed record (with its time).
//   - interval_sec (default 1), interval_nsec (default 0): the period. A run still going
//     when the next one is due is killed (its whole process group) and logged.
//   - buf_size (default 4096): the longest line; a longer one is cut into records of
//     buf_size-1 bytes, as Fluent Bit's fgets does.
//   - oneshot (default off): run once, at start, until the command ends.
//   - exit_after_oneshot (default off): when the oneshot command has ended and its lines
//     are buffered, the agent shuts down (flushing, as on SIGTERM) and exits.
//   - propagate_exit_code (default off): it then exits with the command's exit code
//     (128+N for a command killed by signal N, the shell's convention).
//
// The command's stderr goes to the agent's log, a line at a time.
package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	osexec "os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/fluentbit-go/fluentbit-go/config"
	"github.com/fluentbit-go/fluentbit-go/event"
	"github.com/fluentbit-go/fluentbit-go/parser"
	"github.com/fluentbit-go/fluentbit-go/pipeline"
)

// Input is the exec input. New returns it with Fluent Bit's defaults.
type Input struct {
	Command           string        `conf:"command"`
	Parser            string        `conf:"parser"`
	IntervalSec       time.Duration `conf:"interval_sec"`
	IntervalNsec      int64         `conf:"interval_nsec"`
	BufSize           config.Size   `conf:"buf_size"`
	Oneshot           bool          `conf:"oneshot"`
	ExitAfterOneshot  bool          `conf:"exit_after_oneshot"`
	PropagateExitCode bool          `conf:"propagate_exit_code"`

	// ParserImpl, when set before Validate, is used instead of looking Parser up.
	ParserImpl *parser.Parser

	cfg    *config.Config
	log    *slog.Logger
	exit   func(code int)
	period time.Duration
}

// New returns an exec input with Fluent Bit's defaults.
func New() *Input {
	return &Input{IntervalSec: time.Second, BufSize: 4096}
}

func init() {
	pipeline.RegisterInput("exec", func() pipeline.Input { return New() })
}

// SetConfig keeps the configuration, where the parser is looked up.
func (in *Input) SetConfig(cfg *config.Config) { in.cfg = cfg }

// Validate checks the keys and resolves the parser.
func (in *Input) Validate() error {
	if in.Command == "" {
		return config.KeyErrorf("command", "missing: the shell command to run")
	}
	if in.IntervalSec < 0 {
		return config.KeyErrorf("interval_sec", "%v: want 0 or more", in.IntervalSec)
	}
	if in.IntervalNsec < 0 {
		return config.KeyErrorf("interval_nsec", "%d: want 0 or more", in.IntervalNsec)
	}
	in.period = in.IntervalSec + time.Duration(in.IntervalNsec)
	if in.period <= 0 && !in.Oneshot {
		return config.KeyErrorf("interval_sec", "the period (interval_sec + interval_nsec) must be above 0")
	}
	if in.BufSize < 2 {
		return config.KeyErrorf("buf_size", "%d: want at least 2 bytes", in.BufSize)
	}
	if in.Parser != "" && in.ParserImpl == nil {
		set := parser.NewSet()
		if in.cfg != nil {
			s, err := parser.Load(in.cfg)
			if err != nil {
				return err
			}
			set = s
		}
		p, ok := set.Lookup(in.Parser)
		if !ok {
			return config.KeyErrorf("parser", "no parser named %q is defined (define it in a [PARSER] section, a parsers_file or the YAML parsers list)", in.Parser)
		}
		in.ParserImpl = p
	}
	return nil
}

// Init keeps the logger and the way to ask the program to exit.
func (in *Input) Init(_ context.Context, env pipeline.Env) error {
	in.log, in.exit = env.Logger, env.Exit
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.period == 0 && !in.Oneshot {
		in.period = in.IntervalSec + time.Duration(in.IntervalNsec)
	}
	if in.ExitAfterOneshot && !in.Oneshot {
		in.log.Warn("exit_after_oneshot has no effect without oneshot on")
	}
	if in.PropagateExitCode && !(in.Oneshot && in.ExitAfterOneshot) {
		in.log.Warn("propagate_exit_code has no effect without oneshot and exit_after_oneshot on")
	}
	return nil
}

// Run runs the command once (oneshot) or every period until ctx ends.
func (in *Input) Run(ctx context.Context, emit pipeline.Emitter) error {
	if in.Oneshot {
		code, err := in.runOnce(ctx, emit, time.Time{})
		if err != nil || ctx.Err() != nil {
			return stopped(err)
		}
		if in.ExitAfterOneshot {
			if !in.PropagateExitCode {
				code = 0
			}
			if in.exit == nil {
				in.log.Warn("exit_after_oneshot: nothing to ask to exit (the agent is embedded)", "code", code)
			} else {
				in.log.Info("the oneshot command ended: asking the agent to exit", "code", code)
				in.exit(code)
			}
		}
		return nil
	}
	t := time.NewTicker(in.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// A run may take the whole period; the one that follows starts when it ends.
		if _, err := in.runOnce(ctx, emit, time.Now().Add(in.period)); err != nil {
			return stopped(err)
		}
	}
}

// stopped turns ErrStopped (the engine is shutting down) into a plain end.
func stopped(err error) error {
	if errors.Is(err, pipeline.ErrStopped) {
		return nil
	}
	return err
}

// runOnce runs the command and emits its lines; a run still going at deadline (when not
// zero) is killed with its process group. It returns the command's exit code in the
// shell's convention, and an error only when emitting failed or the command could not
// be started.
func (in *Input) runOnce(ctx context.Context, emit pipeline.Emitter, deadline time.Time) (int, error) {
	runCtx, cancel := context.WithCancel(ctx)
	if !deadline.IsZero() {
		runCtx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	cmd := osexec.CommandContext(runCtx, "/bin/sh", "-c", in.Command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return -1, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return -1, err
	}
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("exec: start %q: %w", in.Command, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 4096), 64<<10)
		for sc.Scan() {
			in.log.Warn("command stderr: "+sc.Text(), "command", in.Command)
		}
	}()
	emitErr := readLines(stdout, int(in.BufSize)-1, func(l []byte) error { return in.emitLine(emit, l) })
	if emitErr != nil {
		cancel() // stop the command: nothing more can be taken
	}
	wg.Wait()
	werr := cmd.Wait()
	code := exitCode(cmd)
	switch {
	case emitErr != nil:
		return code, emitErr
	case runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		in.log.Warn("the command was still running at the next interval: killed", "command", in.Command, "interval", in.period)
	case ctx.Err() != nil:
	case werr != nil && code != 0:
		in.log.Warn("the command failed", "command", in.Command, "code", code, "err", werr)
	}
	return code, nil
}

// readLines passes fn every line of r with its "\n", a line being at most limit bytes,
// as fgets reads them (a longer one is cut).
func readLines(r io.Reader, limit int, fn func([]byte) error) error {
	br := bufio.NewReaderSize(r, max(limit, 16))
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		for len(line) >= limit && (len(line) > limit || line[limit-1] != '\n') {
			if e := fn(line[:limit]); e != nil {
				return e
			}
			line = append(line[:0], line[limit:]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(line) > 0 && (err == nil || err == io.EOF) {
			if e := fn(line); e != nil {
				return e
			}
		}
		line = line[:0]
		if err != nil {
			return nil // EOF, or the pipe closed when the command was killed
		}
	}
}

// emitLine emits one line, its "\n" dropped: parsed when there is a parser and it reads
// the line, else {"exec": line}.
func (in *Input) emitLine(emit pipeline.Emitter, line []byte) error {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if in.ParserImpl != nil {
		ev, err := in.ParserImpl.Parse(line)
		if err == nil || errors.Is(err, parser.ErrTime) {
			return emit.Emit("", ev)
		}
		in.log.Warn("parser: the line is kept unparsed", "parser", in.Parser, "err", err)
	}
	return emit.Emit("", event.Event{Record: event.Map{{Key: "exec", Value: string(line)}}})
}

// exitCode is the command's exit status as a shell reports it: the code, or 128+N for a
// command killed by signal N.
func exitCode(cmd *osexec.Cmd) int {
	if cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

var (
	_ pipeline.Input       = (*Input)(nil)
	_ pipeline.ConfigAware = (*Input)(nil)
	_ pipeline.Validator   = (*Input)(nil)
	_ pipeline.Initializer = (*Input)(nil)
)
