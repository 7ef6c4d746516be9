// Package sqlguard reads the structure of a ClickHouse statement that a
// caller outside the project sent: its leading keyword, whether it is a
// read, and whether it reaches beyond the engine (files, the network,
// other servers, programs). Both of the project's SQL front doors use it:
// the embedded engine's HTTP interface (pkg/chhttp) and the console's SQL
// endpoint (services/console), so a function added to the refused list is
// refused by both.
//
// It does not parse SQL. It works on the engine's own normalised text
// (formatQuerySingleLine: one statement, keywords upper-cased, comments
// gone, literals escaped with a backslash, see NormaliseQuery), with the
// insides of literals, quoted identifiers and comments blanked by Mask, so
// a keyword inside a string is not mistaken for the statement's structure.
// What was checked is then what runs: the callers run the normalised text.
package sqlguard

import (
	"regexp"
	"strings"
)

// NormaliseQuery has the engine parse the statement in the parameter q and
// print it back on one line. A syntax error, or a second statement, is the
// engine's error (see StripScope).
const NormaliseQuery = "SELECT formatQuerySingleLine({q:String})"

// readingKinds are the leading keywords of the statements a read-only user
// may run.
var readingKinds = map[string]bool{
	"SELECT": true, "WITH": true, "SHOW": true, "DESCRIBE": true, "DESC": true, "EXPLAIN": true, "EXISTS": true,
}

// ReadingKinds names the reading statements, for an error message.
const ReadingKinds = "SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS"

// Reading reports whether a statement with this leading keyword (as
// FirstWord gives it) only reads.
func Reading(kind string) bool { return readingKinds[kind] }

// external finds a call of a function or table function that reads files,
// reaches the network or other servers, runs programs or reads a
// dictionary's source. Case-insensitive: the engine registers some so.
var external = regexp.MustCompile(`(?i)(?:^|[^\w.$])(file|filecluster|url|urlcluster|s3\w*|gcs\w*|oss|cosn|hdfs\w*|remote|remotesecure|cluster|clusterallreplicas|mysql|postgresql|mongodb|redis|sqlite|jdbc|odbc|executable|azure\w*|iceberg\w*|deltalake\w*|hudi\w*|paimon\w*|arrowflight\w*|ytsaurus|input|catboostevaluate|dictionary)\s*\(`)

// ExternalCall finds, in a masked statement, the first call of a function
// that reaches beyond the engine, and returns the offsets of its name (the
// same in the unmasked text). ok is false when there is none.
func ExternalCall(masked string) (start, end int, ok bool) {
	loc := external.FindStringSubmatchIndex(masked)
	if loc == nil {
		return 0, 0, false
	}
	return loc[2], loc[3], true
}

var (
	outfile = regexp.MustCompile(`(?i)\bINTO\s+OUTFILE\b`)
	infile  = regexp.MustCompile(`(?i)\bFROM\s+INFILE\b`)
)

// LocalFiles reports whether a masked statement writes (INTO OUTFILE) or
// reads (FROM INFILE) a file of the machine the engine runs on.
func LocalFiles(masked string) bool {
	return outfile.MatchString(masked) || infile.MatchString(masked)
}

// Mask blanks the insides of string literals, quoted identifiers and
// comments, keeping the quotes and every byte offset, so keyword searches
// see only the statement's structure. A backslash escapes the next byte
// inside a literal, as in the engine's normalised text.
func Mask(s string) string {
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

// FirstWord is the statement's leading keyword, upper-cased, past any
// opening parentheses; "" when it starts with anything else.
func FirstWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	end := 0
	for end < len(s) && (s[end] >= 'A' && s[end] <= 'Z' || s[end] >= 'a' && s[end] <= 'z') {
		end++
	}
	return strings.ToUpper(s[:end])
}

// SecondWord is the keyword after the first.
func SecondWord(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	i := strings.IndexAny(s, " \t\r\n")
	if i < 0 {
		return ""
	}
	return FirstWord(s[i:])
}

// StripScope removes, from the engine's error for NormaliseQuery, its
// mention of the wrapping formatQuerySingleLine call, so a syntax error
// reads as if the statement had been run as written. named is false when
// the message had the mention but no "(ERROR_NAME)" after it, so the
// caller must name the error itself; a message without the mention comes
// back as it is, named.
func StripScope(msg string) (text string, named bool) {
	const marker = ": In scope SELECT formatQuerySingleLine("
	i := strings.Index(msg, marker)
	if i < 0 {
		return msg, true
	}
	j := strings.LastIndex(msg, ". (")
	if j < i {
		return msg[:i], false
	}
	return msg[:i] + msg[j:], true
}
