package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a YAML duration: Go's ("90m", "4h30m") plus days ("7d", "1d12h").
type Duration time.Duration

// D is the duration as time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses "90m", "4h", "7d", "1d12h".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in Go's form.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// maxDays bounds the day count (about 27 years), far from overflowing.
const maxDays = 10_000

// ParseDuration is time.ParseDuration that also takes a leading day count.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > maxDays {
			return 0, fmt.Errorf("%q is not a duration like 90m, 4h or 7d", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || days+v < days {
		return 0, fmt.Errorf("%q is not a duration like 90m, 4h or 7d", orig)
	}
	return days + v, nil
}
