package imagebuild

import (
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
)

// The seed's request examples are not all JSON, though every curl line of
// them says Content-type: application/json. berth accepts what those lines
// send, besides real JSON:
//
//   - save's object with bare keys, quoted or bare values, no commas:
//     {
//     project:"aa"
//     Cluster:"default"
//     $$plugin:[{
//     }]
//     }
//     (relaxedObject; a shell expands the unquoted $$ and strips the quotes,
//     which parses too: unknown keys are ignored by every route).
//   - the plugin call's form fields joined by curl's -d: plugin="aa"&method="download file"&{ }
//     (lenientForm: pairs with their values' quotes removed, JSON-looking
//     pieces without a value dropped).

// relaxedObject parses a brace-enclosed list of key:value pairs separated
// by commas or white space. Keys are quoted or bare; values are quoted
// strings, JSON arrays or objects, or bare words. ok is false when s is
// not such an object.
func relaxedObject(s string) (map[string]any, bool) {
	p := &relaxed{s: strings.TrimSpace(s)}
	if !p.eat('{') {
		return nil, false
	}
	out := map[string]any{}
	for {
		p.skipSeparators()
		if p.eat('}') {
			p.skipSeparators()
			return out, p.i == len(p.s)
		}
		key, ok := p.word(":")
		if !ok || key == "" {
			return nil, false
		}
		p.skipSpace()
		if !p.eat(':') {
			return nil, false
		}
		p.skipSpace()
		val, ok := p.value()
		if !ok {
			return nil, false
		}
		out[key] = val
	}
}

type relaxed struct {
	s string
	i int
}

func (p *relaxed) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *relaxed) skipSpace() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

func (p *relaxed) skipSeparators() {
	for p.i < len(p.s) && (unicode.IsSpace(rune(p.s[p.i])) || p.s[p.i] == ',') {
		p.i++
	}
}

// word reads a quoted string or a bare word ending at white space, a
// comma, a closing brace or one of stop.
func (p *relaxed) word(stop string) (string, bool) {
	if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
		q := p.s[p.i]
		end := -1
		for j := p.i + 1; j < len(p.s); j++ {
			if p.s[j] == '\\' {
				j++
			} else if p.s[j] == q {
				end = j
				break
			}
		}
		if end < 0 {
			return "", false
		}
		w := p.s[p.i+1 : end]
		p.i = end + 1
		if q == '"' {
			var u string
			if json.Unmarshal([]byte(`"`+w+`"`), &u) == nil {
				w = u
			}
		}
		return w, true
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if unicode.IsSpace(rune(c)) || c == ',' || c == '}' || strings.IndexByte(stop, c) >= 0 {
			break
		}
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// value reads a JSON array or object (balanced brackets, then decoded),
// a quoted string or a bare word.
func (p *relaxed) value() (any, bool) {
	if p.i < len(p.s) && (p.s[p.i] == '[' || p.s[p.i] == '{') {
		end, ok := balanced(p.s, p.i)
		if !ok {
			return nil, false
		}
		raw := p.s[p.i:end]
		p.i = end
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err == nil {
			return v, true
		}
		if obj, ok := relaxedObject(raw); ok {
			return obj, true
		}
		return nil, false
	}
	w, ok := p.word("")
	return w, ok
}

// balanced returns the index after the bracket closing the one at start,
// skipping quoted strings.
func balanced(s string, start int) (int, bool) {
	depth, quote := 0, byte(0)
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// lenientForm parses a form body sent under another content type: pairs
// of key=value joined by '&', a value's surrounding double quotes removed,
// pieces without '=' that look like JSON ({ }) dropped. ok is false when s
// holds no pair at all.
func lenientForm(s string) (url.Values, bool) {
	out := url.Values{}
	for _, piece := range strings.Split(s, "&") {
		k, v, found := strings.Cut(piece, "=")
		k = strings.TrimSpace(k)
		if !found {
			if t := strings.TrimSpace(piece); t == "" || strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
				continue
			}
			return nil, false
		}
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" {
			return nil, false
		}
		val, err := url.QueryUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, false
		}
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		out.Add(key, val)
	}
	return out, len(out) > 0
}
