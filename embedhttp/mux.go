package embedhttp

import "sort"

// Mux routes requests by path: a pattern ending in "/" matches every path under it
// (the longest such pattern wins), any other pattern matches its path exactly. A
// request no pattern matches gets NotFound (a 404 when nil). Register everything
// before the server starts; Mux is not safe for concurrent Handle and Serve.
type Mux struct {
	NotFound Handler
	exact    map[string]Handler
	prefixes []muxEntry // longest first
}

type muxEntry struct {
	prefix string
	h      Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{exact: map[string]Handler{}} }

// Handle registers h for pattern.
func (m *Mux) Handle(pattern string, h Handler) {
	if m.exact == nil {
		m.exact = map[string]Handler{}
	}
	if pattern != "" && pattern[len(pattern)-1] == '/' {
		m.prefixes = append(m.prefixes, muxEntry{pattern, h})
		sort.SliceStable(m.prefixes, func(i, j int) bool {
			return len(m.prefixes[i].prefix) > len(m.prefixes[j].prefix)
		})
		return
	}
	m.exact[pattern] = h
}

// HandleFunc registers f for pattern.
func (m *Mux) HandleFunc(pattern string, f func(w *Response, r *Request)) {
	m.Handle(pattern, HandlerFunc(f))
}

// Serve dispatches r to the matching handler.
func (m *Mux) Serve(w *Response, r *Request) {
	p := r.Path()
	if h, ok := m.exact[string(p)]; ok {
		h.Serve(w, r)
		return
	}
	for _, e := range m.prefixes {
		if len(p) >= len(e.prefix) && string(p[:len(e.prefix)]) == e.prefix {
			e.h.Serve(w, r)
			return
		}
	}
	if m.NotFound != nil {
		m.NotFound.Serve(w, r)
		return
	}
	w.SetStatus(404)
	w.SetContentType("text/plain; charset=utf-8")
	w.WriteString("Not Found\n")
}
