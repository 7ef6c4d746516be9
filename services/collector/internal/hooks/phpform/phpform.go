// Package phpform decodes application/x-www-form-urlencoded bodies whose keys
// use PHP's array syntax — leads[status][0][id]=1 — into the tree PHP's $_POST
// would hold. amoCRM and Bitrix24 send their webhooks this way: groups of any
// index values, several per request, every value a string.
//
// It follows PHP where PHP is lenient: a later key overwrites an earlier one,
// "a[]" appends, a key with an unclosed "[" is taken literally, a malformed
// %-escape is kept as written. It is bounded: too many pairs or too deep a
// key is an error, never a large allocation.
package phpform

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Limits bound what one body may build.
type Limits struct {
	MaxPairs int // key=value pairs
	MaxDepth int // bracket segments of one key
}

// DefaultLimits are generous for a webhook and small for an attacker.
var DefaultLimits = Limits{MaxPairs: 20_000, MaxDepth: 16}

// ErrTooLarge is returned when a body exceeds the limits.
var ErrTooLarge = errors.New("form too large")

// Value is a leaf string or a map of keys to values in first-seen order.
type Value struct {
	str   string
	keys  []string
	items map[string]*Value
	next  int // the index "[]" appends at
}

// IsMap reports whether v holds keys rather than a string.
func (v *Value) IsMap() bool { return v != nil && v.items != nil }

// String returns a leaf's string; "" for a map or nil.
func (v *Value) String() string {
	if v == nil || v.items != nil {
		return ""
	}
	return v.str
}

// Keys returns a map's keys in the order they first appeared.
func (v *Value) Keys() []string {
	if v == nil {
		return nil
	}
	return v.keys
}

// Len is the number of keys of a map.
func (v *Value) Len() int {
	if v == nil {
		return 0
	}
	return len(v.keys)
}

// Get follows path through maps; nil when any step is missing.
func (v *Value) Get(path ...string) *Value {
	for _, p := range path {
		if v == nil || v.items == nil {
			return nil
		}
		v = v.items[p]
	}
	return v
}

// Str is Get(path...).String().
func (v *Value) Str(path ...string) string { return v.Get(path...).String() }

// Has reports whether path leads to a value (leaf or map).
func (v *Value) Has(path ...string) bool { return v.Get(path...) != nil }

// Each calls fn for every key of a map, in order.
func (v *Value) Each(fn func(key string, val *Value)) {
	if v == nil {
		return
	}
	for _, k := range v.keys {
		fn(k, v.items[k])
	}
}

// Parse decodes body.
func Parse(body string, lim Limits) (*Value, error) {
	root := newMap()
	pairs := 0
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		if pairs++; pairs > lim.MaxPairs {
			return nil, fmt.Errorf("%w: more than %d fields", ErrTooLarge, lim.MaxPairs)
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, val := unescape(rawKey), unescape(rawVal)
		name, segs, err := splitKey(key, lim.MaxDepth)
		if err != nil {
			return nil, err
		}
		if name == "" {
			continue // PHP drops variables without a name
		}
		root.set(name, segs, val)
	}
	return root, nil
}

func newMap() *Value { return &Value{items: map[string]*Value{}} }

// set stores val at name[segs[0]][segs[1]]…, replacing whatever was in the way.
func (v *Value) set(name string, segs []string, val string) {
	cur := v
	key := name
	for _, seg := range segs {
		child := cur.items[key]
		if child == nil || child.items == nil {
			child = newMap()
			cur.put(key, child)
		}
		cur = child
		if seg == "" {
			seg = strconv.Itoa(cur.next)
		}
		key = seg
	}
	cur.put(key, &Value{str: val})
}

func (v *Value) put(key string, child *Value) {
	if _, ok := v.items[key]; !ok {
		v.keys = append(v.keys, key)
	}
	v.items[key] = child
	if n, err := strconv.Atoi(key); err == nil && n >= v.next && n < 1<<30 {
		v.next = n + 1
	}
}

// splitKey splits "a[b][c]" into "a" and ["b", "c"]. Text after the last "]"
// is ignored, as PHP does; a key whose first "[" is never closed is a plain name.
func splitKey(key string, maxDepth int) (string, []string, error) {
	open := strings.IndexByte(key, '[')
	if open < 0 {
		return key, nil, nil
	}
	name := key[:open]
	rest := key[open:]
	var segs []string
	for strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			break
		}
		if len(segs) == maxDepth {
			return "", nil, fmt.Errorf("%w: key nested deeper than %d", ErrTooLarge, maxDepth)
		}
		segs = append(segs, rest[1:end])
		rest = rest[end+1:]
	}
	if len(segs) == 0 {
		return key, nil, nil
	}
	return name, segs, nil
}

// unescape decodes a form component; a malformed escape leaves it as sent.
func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}
