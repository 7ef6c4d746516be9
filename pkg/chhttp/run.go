package chhttp

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/sqlguard"
)

var formatName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Statements no user may run: each would change the one engine session
// every caller shares, or reach this machine's files. ClickHouse's HTTP
// interface keeps such state per session; this one has none.
var sessionKinds = map[string]string{
	"SET":    "SET is not served: there are no sessions; pass settings as URL parameters",
	"USE":    "USE is not served: there are no sessions; pass ?database=",
	"SYSTEM": "SYSTEM statements are not served by the embedded engine's HTTP interface",
	"KILL":   "KILL is not served: queries cannot be cancelled in the embedded engine",
}

// parse reads the request's statement and, for an INSERT, its data.
func (s *Server) parse(r *http.Request, u *user, p params, body []byte) (*statement, *Exception) {
	text := p.get("query")
	var data []byte
	switch {
	case text == "":
		text, body = string(body), nil
	case len(body) > 0:
		data = body
	}
	if strings.TrimSpace(text) == "" {
		return nil, exception(codeSyntaxError, "Empty query")
	}
	st := &statement{}
	kind := sqlguard.FirstWord(sqlguard.Mask(text))
	if !u.admin() && !sqlguard.Reading(kind) {
		return nil, exception(codeReadonly, "%s: Cannot execute query in readonly mode", u.name)
	}
	if kind == "INSERT" {
		if head, format, d, ok := splitInsert(text, data); ok {
			st.hasData, st.data, st.format = true, d, format
			// The head is parsed with its FORMAT clause, which makes it a
			// whole statement; the clause is cut off again below.
			text = head + " FORMAT " + format
		} else if data != nil {
			text += "\n" + string(data)
		}
	} else if data != nil {
		// As ClickHouse does: the body continues the statement begun in ?query=.
		text += "\n" + string(data)
	}
	if len(text) > int(s.cfg.MaxQueryBytes) {
		return nil, exception(codeSyntaxError, "Max query size exceeded (%d bytes)", s.cfg.MaxQueryBytes)
	}
	norm, ex := s.normalise(text)
	if ex != nil {
		return nil, ex
	}
	st.text = norm
	masked := sqlguard.Mask(norm)
	st.kind = sqlguard.FirstWord(masked)
	if st.kind == "CREATE" && sqlguard.SecondWord(masked) == "TEMPORARY" {
		return nil, exception(codeNotImplemented, "CREATE TEMPORARY TABLE is not served: there are no sessions")
	}
	if why, ok := sessionKinds[st.kind]; ok {
		if !u.admin() {
			return nil, exception(codeReadonly, "%s: Cannot execute query in readonly mode", u.name)
		}
		return nil, exception(codeNotImplemented, "%s", why)
	}
	if start, end, ok := sqlguard.ExternalCall(masked); ok {
		// Not even the admin: a leaked admin password must not read this
		// machine's files or reach its network through the engine, which
		// (unlike a server) has no user_files_path to confine file().
		name := norm[start:end]
		return nil, exception(codeAccessDenied, "%s: Not enough privileges. To execute this query, it's necessary to have the grant %s ON *.*", u.name, strings.ToUpper(name))
	}
	if sqlguard.LocalFiles(masked) {
		return nil, exception(codeNotImplemented, "INTO OUTFILE and FROM INFILE are not served over HTTP: they would reach this machine's files")
	}
	reading := sqlguard.Reading(st.kind)
	if !reading && !u.admin() {
		return nil, exception(codeReadonly, "%s: Cannot execute query in readonly mode", u.name)
	}
	if !reading && r.Method == http.MethodGet {
		return nil, exception(codeReadonly, "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries")
	}
	if !st.hasData {
		st.format = outputFormat(norm)
	} else {
		head := norm
		if all := formatClause.FindAllStringSubmatchIndex(masked, -1); len(all) > 0 {
			loc := all[len(all)-1]
			head = norm[:loc[0]+strings.Index(strings.ToUpper(masked[loc[0]:loc[2]]), "FORMAT")]
		}
		st.insertHead, st.insertSettings = splitSettings(strings.TrimSpace(head))
	}
	return st, nil
}

// normalise has the engine parse the statement and print it back on one
// line, without comments. A syntax error, or a second statement, comes
// back as the engine's error; what was checked is what runs.
func (s *Server) normalise(text string) (string, *Exception) {
	out, err := s.store.Engine().QueryParams(sqlguard.NormaliseQuery, "TabSeparatedRaw",
		map[string]string{"q": escapeParam(text)})
	if err != nil {
		return "", engineException(stripScope(err))
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// guard checks a tenant user's statement (see guard.go) and returns its
// tenant filter.
func (s *Server) guard(u *user, database string, st *statement) (string, *Exception) {
	tables, err := s.catalog.get()
	if err != nil {
		return "", engineException(err)
	}
	out, err := s.store.Engine().QueryIn(quoteIdent(database), "EXPLAIN AST "+st.text, "TabSeparatedRaw", nil)
	if err != nil {
		return "", engineException(err)
	}
	return checkTenant(u, database, st.text, parseAST(string(out)), tables)
}

// readCatalog lists the data database's tables: which have a tenant
// column, which are views.
func (s *Server) readCatalog() (map[string]tableInfo, error) {
	out, err := s.store.Engine().QueryParams(`SELECT name, engine LIKE '%View', has(groupArray(c.name), 'tenant')
		FROM system.tables AS t LEFT JOIN system.columns AS c ON c.database = t.database AND c.table = t.name
		WHERE t.database = {db:String} GROUP BY name, engine`, "TabSeparatedRaw", map[string]string{"db": escapeParam(s.database)})
	if err != nil {
		return nil, err
	}
	tables := map[string]tableInfo{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 {
			tables[f[0]] = tableInfo{view: f[1] == "1", tenantColumn: f[2] == "1"}
		}
	}
	return tables, nil
}

// run executes the statement with its settings and returns the answer.
func (s *Server) run(u *user, p params, st *statement, settings []string, database, format string) (*answer, *Exception) {
	queryParams := map[string]string{}
	for k, vs := range p.Values {
		if name, ok := strings.CutPrefix(k, "param_"); ok && name != "" && len(vs) > 0 {
			queryParams[name] = vs[len(vs)-1]
		}
	}
	a := &answer{format: format}
	var text string
	if st.hasData {
		path, release, err := s.store.Stage(st.data)
		if err != nil {
			return nil, exception(1001, "staging insert data: %v", err)
		}
		defer release()
		all := settings
		if st.insertSettings != "" {
			all = append([]string{st.insertSettings}, settings...)
		}
		text = st.insertHead + " FROM INFILE " + quote(path)
		if len(all) > 0 {
			text += " SETTINGS " + strings.Join(all, ", ")
		}
		text += " FORMAT " + st.format
		a.format, a.writtenBytes = "TabSeparated", int64(len(st.data))
		if strings.EqualFold(st.format, "Native") {
			a.writtenRows, _ = nativeRows(st.data)
		}
	} else {
		text = st.text
		if len(settings) > 0 && takesSettings(st.kind) {
			text += "\nSETTINGS " + strings.Join(settings, ", ")
		}
	}
	db := ""
	if database != "default" {
		db = quoteIdent(database)
	}
	out, err := s.store.Engine().QueryIn(db, text, a.format, queryParams)
	if err != nil {
		return nil, engineException(err)
	}
	a.body = out
	if strings.EqualFold(a.format, "Native") && len(out) > 0 {
		rev, _ := strconv.ParseUint(p.get("client_protocol_version"), 10, 64)
		conv, rows, err := nativeAtRevision(out, rev)
		if err != nil {
			return nil, exception(codeNotImplemented, "%v", err)
		}
		a.body, a.resultRows = conv, rows
	}
	return a, nil
}

// takesSettings reports whether a SETTINGS clause may follow a statement
// of this kind: DDL has SETTINGS clauses of its own meaning (a table's).
func takesSettings(kind string) bool {
	switch kind {
	case "SELECT", "WITH", "INSERT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS":
		return true
	}
	return false
}

// escapeParam writes a value in ClickHouse's escaped text form, the form in
// which the engine reads query-parameter values.
func escapeParam(v string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`, "\r", `\r`, "\x00", `\0`, "\b", `\b`, "\f", `\f`)
	return r.Replace(v)
}

// stripScope removes the engine's mention of the wrapping formatQuery
// call (sqlguard.StripScope), so a syntax error reads as if the statement
// had been run as written.
func stripScope(err error) error {
	text, named := sqlguard.StripScope(err.Error())
	switch {
	case !named:
		return &Exception{Code: codeSyntaxError, Name: "SYNTAX_ERROR", Text: text}
	case text == err.Error():
		return err
	}
	return rawError(text)
}

type rawError string

func (e rawError) Error() string { return string(e) }
