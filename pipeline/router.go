package pipeline

// MatchTag reports whether tag matches a Fluent Bit Match pattern: '*' matches any run of
// characters (dots included), every other character matches itself.
func MatchTag(pattern, tag string) bool {
	// Iterative wildcard match with single backtrack point: linear in practice, no recursion.
	p, t := 0, 0
	star, mark := -1, 0
	for t < len(tag) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, t
			p++
		case p < len(pattern) && pattern[p] == tag[t]:
			p++
			t++
		case star >= 0:
			p = star + 1
			mark++
			t = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matcher is a plugin instance's Match or Match_Regex.
type matcher struct {
	pattern string
	re      TagMatcher
}

func (m matcher) match(tag string) bool {
	if m.re != nil {
		return m.re.MatchString(tag)
	}
	return m.pattern != "" && MatchTag(m.pattern, tag)
}

// route is what a tag resolves to: the filters that apply to it, in order, and the outputs
// that receive it. Routes are computed once per tag and cached.
type route struct {
	filters []*filterInst
	outputs []*outputInst
}

// maxCachedRoutes bounds the route cache: tags can come from the outside world (MQTT
// topics, HTTP paths), so a flood of distinct tags must not grow memory without bound.
const maxCachedRoutes = 4096

func (e *Engine) route(tag string) *route {
	if r, ok := e.routes.Load(tag); ok {
		return r.(*route)
	}
	r := &route{}
	for _, f := range e.filters {
		if f.match.match(tag) {
			r.filters = append(r.filters, f)
		}
	}
	for _, o := range e.outputs {
		if o.match.match(tag) {
			r.outputs = append(r.outputs, o)
		}
	}
	if e.routeCount.Add(1) > maxCachedRoutes {
		e.routes.Clear()
		e.routeCount.Store(1)
	}
	e.routes.Store(tag, r)
	return r
}
