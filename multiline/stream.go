package multiline

import "time"

// Message is one message a Stream hands back: its text (its lines, each ended by '\n', as
// Fluent Bit's tail gives them) and the mark its first line was fed with (the tail input's
// file offset).
type Message struct {
	Text []byte
	Mark int64
}

// Stream joins the lines of one source (a file) with a list of parsers: a message is
// begun by the first parser with a start rule matching the line, and goes on under that
// parser's rules. Not safe for concurrent use.
type Stream struct {
	ps     []*Parser
	limit  int
	active *Parser
	state  *rule
	buf    []byte
	inBuf  bool // buf holds a message (it may be empty text: a single empty line)
	mark   int64
	since  time.Time
}

// NewStream returns a stream over ps; a message longer than limit bytes (0: no limit)
// is handed back at that point, and the lines after it are messages of their own.
func NewStream(ps []*Parser, limit int) *Stream { return &Stream{ps: ps, limit: limit} }

// Feed takes one line (without its line end: the message gets '\n' after each) and returns the messages it completes, in
// order: a message it ends, then the line alone when no rule takes it, or the message it
// begins when that message ends with it. The returned texts are the caller's.
func (s *Stream) Feed(line []byte, mark int64, now time.Time) []Message {
	var out []Message
	if s.state != nil {
		for _, r := range s.state.next {
			if r.start || !r.re.MatchString(string(line)) {
				continue
			}
			if !s.inBuf {
				s.begin(line, mark, now)
			} else {
				s.buf = append(append(s.buf, line...), '\n')
			}
			s.state = r
			if r.nextStart || (s.limit > 0 && len(s.buf) >= s.limit) {
				out = append(out, s.take())
				if s.limit > 0 && !r.nextStart {
					s.state, s.active = nil, nil
				}
			}
			return out
		}
	}
	for _, p := range s.ps {
		for _, r := range p.rules {
			if !r.start || !r.re.MatchString(string(line)) {
				continue
			}
			if s.inBuf {
				out = append(out, s.take())
			}
			s.active, s.state = p, r
			s.begin(line, mark, now)
			if r.nextStart {
				out = append(out, s.take())
			}
			return out
		}
	}
	if s.inBuf {
		out = append(out, s.take())
	}
	// As in Fluent Bit, the state stays: a line the rules of the state left behind take
	// begins a message of its own (flb_ml_rule_process keeps rule_to_state).
	return append(out, Message{Text: append(append([]byte(nil), line...), '\n'), Mark: mark})
}

func (s *Stream) begin(line []byte, mark int64, now time.Time) {
	s.buf = append(append(s.buf[:0:0], line...), '\n')
	s.inBuf, s.mark, s.since = true, mark, now
}

func (s *Stream) take() Message {
	m := Message{Text: s.buf, Mark: s.mark}
	s.buf, s.inBuf = nil, false
	return m
}

// Pending reports the mark of the message being joined, if any.
func (s *Stream) Pending() (mark int64, ok bool) { return s.mark, s.inBuf }

// Flush hands back the message being joined when it has waited its parser's
// flush_timeout since it began (or always, when force); the state is reset.
func (s *Stream) Flush(now time.Time, force bool) (Message, bool) {
	if !s.inBuf {
		return Message{}, false
	}
	if !force && s.active != nil && now.Sub(s.since) < s.active.FlushTimeout {
		return Message{}, false
	}
	s.state, s.active = nil, nil
	return s.take(), true
}

// Reset forgets the message being joined (the caller reads its lines again).
func (s *Stream) Reset() { s.buf, s.inBuf, s.state, s.active = nil, false, nil, nil }
