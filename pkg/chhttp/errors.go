package chhttp

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Exception is an error as ClickHouse reports it: a numeric code, its
// symbolic name, and the text. Clients parse the body "Code: N. DB::Exception:
// text (NAME) (version V)" and the X-ClickHouse-Exception-Code header.
type Exception struct {
	Code int
	Name string
	Text string
}

// ClickHouse error codes the interface itself reports.
const (
	codeUnknownSetting       = 115
	codeReadonly             = 164
	codeTooManyQueries       = 202
	codeSettingConstraint    = 452
	codeAccessDenied         = 497
	codeAuthenticationFailed = 516
	codeSyntaxError          = 62
	codeUnknownFormat        = 73
	codeNotImplemented       = 48
	codeCannotDecompress     = 271
	codeBadArguments         = 36
)

var codeNames = map[int]string{
	codeUnknownSetting: "UNKNOWN_SETTING", codeReadonly: "READONLY", codeTooManyQueries: "TOO_MANY_SIMULTANEOUS_QUERIES",
	codeSettingConstraint: "SETTING_CONSTRAINT_VIOLATION", codeAccessDenied: "ACCESS_DENIED",
	codeAuthenticationFailed: "AUTHENTICATION_FAILED", codeSyntaxError: "SYNTAX_ERROR", codeUnknownFormat: "UNKNOWN_FORMAT",
	codeNotImplemented: "NOT_IMPLEMENTED", codeCannotDecompress: "CANNOT_DECOMPRESS",
	codeBadArguments: "BAD_ARGUMENTS", 60: "UNKNOWN_TABLE",
}

func exception(code int, format string, args ...any) *Exception {
	return &Exception{Code: code, Name: codeNames[code], Text: fmt.Sprintf(format, args...)}
}

func (e *Exception) Error() string {
	return fmt.Sprintf("Code: %d. DB::Exception: %s. (%s)", e.Code, strings.TrimSuffix(e.Text, "."), e.Name)
}

var (
	codeRe = regexp.MustCompile(`^Code: (\d+)\. DB::Exception: `)
	nameRe = regexp.MustCompile(`\(([A-Z][A-Z0-9_]+)\)\s*$`)
	// versionRe is the "(version X)" the engine adds to a wrapped error.
	versionRe = regexp.MustCompile(`\s*\(version [0-9.]+\)`)
)

// engineException turns an error of the engine into an Exception. chDB
// sometimes wraps an error in a second "Code: N. DB::Exception:" with the
// same code; the outer one is dropped so the text reads as a server's.
func engineException(err error) *Exception {
	var ex *Exception
	if errors.As(err, &ex) {
		return ex
	}
	msg := strings.TrimSpace(err.Error())
	m := codeRe.FindStringSubmatch(msg)
	if m == nil {
		return &Exception{Code: 1001, Name: "STD_EXCEPTION", Text: msg}
	}
	code, _ := strconv.Atoi(m[1])
	body := msg[len(m[0]):]
	if inner := codeRe.FindStringSubmatch(body); inner != nil && inner[1] == m[1] {
		body = body[len(inner[0]):]
		// The outer error repeats the inner one's name after its version.
		body = versionRe.ReplaceAllString(body, "")
		if n := nameRe.FindStringSubmatchIndex(body); n != nil {
			if inner := strings.TrimSpace(body[:n[0]]); nameRe.MatchString(inner) {
				body = inner
			}
		}
	}
	ex = &Exception{Code: code, Text: strings.TrimSpace(body)}
	if n := nameRe.FindStringSubmatchIndex(ex.Text); n != nil {
		ex.Name = ex.Text[n[2]:n[3]]
		ex.Text = strings.TrimSpace(ex.Text[:n[0]])
	}
	return ex
}

// status is the HTTP status ClickHouse's server answers an exception with
// (exceptionCodeToHTTPStatus in its HTTPHandler), for the codes met here.
func (e *Exception) status() int {
	switch e.Code {
	case 192, 193, 194, codeAuthenticationFailed: // UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD
		return http.StatusUnauthorized
	case codeAccessDenied, codeReadonly, codeSettingConstraint:
		return http.StatusForbidden
	case 60, 81, 46, 47, 50, 63, codeUnknownSetting, codeUnknownFormat: // UNKNOWN_TABLE, _DATABASE, _FUNCTION, _IDENTIFIER, _TYPE, _AGGREGATE_FUNCTION
		return http.StatusNotFound
	case codeSyntaxError, 6, 26, 27, 38, 72, 16, 42, 43, 44, 53, codeBadArguments, 117, codeCannotDecompress:
		// SYNTAX_ERROR, CANNOT_PARSE_*, NO_SUCH_COLUMN_IN_TABLE, arguments and types, INCORRECT_DATA
		return http.StatusBadRequest
	case codeNotImplemented:
		return http.StatusNotImplemented
	case codeTooManyQueries:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// body is the error text as ClickHouse writes it, one line.
func (e *Exception) body(version string) string {
	name := e.Name
	if name == "" {
		name = "UNKNOWN_EXCEPTION"
	}
	return fmt.Sprintf("Code: %d. DB::Exception: %s. (%s) (version %s)\n", e.Code, strings.TrimSuffix(e.Text, "."), name, version)
}
