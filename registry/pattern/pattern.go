// Package pattern matches repository paths and tag names against the globs
// retention and immutability rules use (as Harbor's do): * is any run of
// characters but "/", ** any run including "/", ? one character, and
// {a,b,c} any of the alternatives. A pattern matches the whole name.
// Anything else must be a character names can hold (letters, digits, ".",
// "_", "-", "/"), so a pattern that could never match (one with "[", a
// space, a regular expression) is an error rather than a silent no-op.
package pattern

import (
	"fmt"
	"regexp"
	"strings"
)

// Pattern is a compiled glob.
type Pattern struct {
	src string
	re  *regexp.Regexp
}

// Compile compiles a glob; an empty one matches everything, like "**".
func Compile(glob string) (*Pattern, error) {
	if glob == "" {
		glob = "**"
	}
	if len(glob) > 512 {
		return nil, fmt.Errorf("pattern %.40q...: at most 512 characters", glob)
	}
	var b strings.Builder
	b.WriteString("^")
	depth := 0
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			if i+1 < len(glob) && glob[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '{':
			depth++
			b.WriteString("(?:")
		case '}':
			if depth == 0 {
				return nil, fmt.Errorf("pattern %q: a } without its {", glob)
			}
			depth--
			b.WriteString(")")
		case ',':
			if depth > 0 {
				b.WriteString("|")
			} else {
				b.WriteString(",")
			}
		default:
			if !nameChar(c) {
				return nil, fmt.Errorf("pattern %q: %q cannot appear in a repository or tag name (use *, **, ? and {a,b})", glob, c)
			}
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("pattern %q: a { without its }", glob)
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", glob, err)
	}
	return &Pattern{src: glob, re: re}, nil
}

// Match reports whether name matches the whole pattern.
func (p *Pattern) Match(name string) bool { return p.re.MatchString(name) }

// String is the glob as written.
func (p *Pattern) String() string { return p.src }

// nameChar reports whether c can appear in a repository path or a tag.
func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '/'
}
