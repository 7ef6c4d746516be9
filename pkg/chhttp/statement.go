package chhttp

import (
	"regexp"
	"strings"
)

// statement is one request's SQL, split the way the interface runs it.
type statement struct {
	text   string // normalised by the engine (see Server.normalise)
	kind   string // leading keyword, upper case: SELECT, INSERT, …
	format string // the FORMAT clause's format, or ""
	// For an INSERT with data: the statement up to its columns, its own
	// SETTINGS clause, and the data's format.
	insertHead, insertSettings string
	data                       []byte
	hasData                    bool
}

var (
	formatClause   = regexp.MustCompile(`(?i)(?:^|[\s)])FORMAT\s+([A-Za-z0-9_]+)`)
	valuesClause   = regexp.MustCompile(`(?i)(?:^|[\s)])VALUES\b`)
	settingsClause = regexp.MustCompile(`(?i)(?:^|[\s)])SETTINGS\s`)
	outfileClause  = regexp.MustCompile(`(?i)\bINTO\s+OUTFILE\b`)
	infileClause   = regexp.MustCompile(`(?i)\bFROM\s+INFILE\b`)
)

// splitInsert splits "INSERT INTO t (cols) [SETTINGS …] FORMAT F <data>"
// (or "… VALUES <data>") into its head and data, as ClickHouse's HTTP
// interface reads an INSERT whose data follows in the text and the body.
// ok is false for an INSERT without data (INSERT … SELECT).
func splitInsert(text string, body []byte) (head, format string, data []byte, ok bool) {
	m := maskLiterals(text)
	var dataAt int
	upper := strings.ToUpper(m)
	if loc := formatClause.FindStringSubmatchIndex(m); loc != nil && !strings.Contains(upper[:loc[0]], "SELECT") {
		kw := loc[0] + strings.Index(upper[loc[0]:loc[2]], "FORMAT")
		head, format, dataAt = strings.TrimSpace(text[:kw]), text[loc[2]:loc[3]], loc[3]
	} else if loc := valuesClause.FindStringIndex(m); loc != nil && !strings.Contains(upper[:loc[0]], "SELECT") {
		kw := loc[0] + strings.Index(upper[loc[0]:loc[1]], "VALUES")
		head, format, dataAt = strings.TrimSpace(text[:kw]), "Values", loc[1]
	} else {
		return "", "", nil, false
	}
	inline := text[dataAt:]
	// The data starts after the whitespace that ends the FORMAT clause.
	inline = strings.TrimLeft(inline, " \t")
	if strings.HasPrefix(inline, "\r\n") {
		inline = inline[2:]
	} else if strings.HasPrefix(inline, "\n") {
		inline = inline[1:]
	}
	data = append([]byte(inline), body...)
	return head, format, data, true
}

// maskLiterals blanks the insides of string literals, quoted identifiers
// and comments, keeping every byte offset, so clause searches see only the
// statement's structure.
func maskLiterals(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch q := b[i]; {
		case q == '\'' || q == '`' || q == '"':
			j := i + 1
			for ; j < len(b) && b[j] != q; j++ {
				if b[j] == '\\' && j+1 < len(b) {
					b[j] = ' '
					j++
				}
				b[j] = ' '
			}
			i = j
		case q == '-' && i+1 < len(b) && b[i+1] == '-':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case q == '/' && i+1 < len(b) && b[i+1] == '*':
			j := i
			for ; j < len(b) && !(b[j] == '*' && j+1 < len(b) && b[j+1] == '/'); j++ {
				b[j] = ' '
			}
			if j+1 < len(b) {
				b[j], b[j+1] = ' ', ' '
			}
			i = j + 1
		}
	}
	return string(b)
}

// firstWord is the statement's leading keyword, upper-cased, past any
// opening parentheses.
func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	end := 0
	for end < len(s) && (s[end] >= 'A' && s[end] <= 'Z' || s[end] >= 'a' && s[end] <= 'z') {
		end++
	}
	return strings.ToUpper(s[:end])
}

// secondWord is the keyword after the first.
func secondWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	i := strings.IndexAny(s, " \t\r\n")
	if i < 0 {
		return ""
	}
	return firstWord(s[i:])
}

// outputFormat is the format a statement's FORMAT clause names, or "".
func outputFormat(normalised string) string {
	all := formatClause.FindAllStringSubmatch(maskLiterals(normalised), -1)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1][1]
}

// splitSettings cuts an INSERT head's own SETTINGS clause off.
func splitSettings(head string) (string, string) {
	loc := settingsClause.FindStringIndex(maskLiterals(head))
	if loc == nil {
		return head, ""
	}
	return strings.TrimSpace(head[:loc[0]]), strings.TrimSpace(head[loc[1]:])
}
