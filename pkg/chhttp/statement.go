package chhttp

import (
	"regexp"
	"strings"

	"github.com/throughline/throughline/pkg/sqlguard"
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
)

// splitInsert splits "INSERT INTO t (cols) [SETTINGS …] FORMAT F <data>"
// (or "… VALUES <data>") into its head and data, as ClickHouse's HTTP
// interface reads an INSERT whose data follows in the text and the body.
// ok is false for an INSERT without data (INSERT … SELECT).
func splitInsert(text string, body []byte) (head, format string, data []byte, ok bool) {
	m := sqlguard.Mask(text)
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

// outputFormat is the format a statement's FORMAT clause names, or "".
func outputFormat(normalised string) string {
	all := formatClause.FindAllStringSubmatch(sqlguard.Mask(normalised), -1)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1][1]
}

// splitSettings cuts an INSERT head's own SETTINGS clause off.
func splitSettings(head string) (string, string) {
	loc := settingsClause.FindStringIndex(sqlguard.Mask(head))
	if loc == nil {
		return head, ""
	}
	return strings.TrimSpace(head[:loc[0]]), strings.TrimSpace(head[loc[1]:])
}
