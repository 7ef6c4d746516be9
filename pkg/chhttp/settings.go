package chhttp

import (
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// params are the URL parameters of a request.
type params struct{ url.Values }

func (p params) get(k string) string { return p.Values.Get(k) }

func (p params) flag(k string) bool {
	v := strings.ToLower(p.get(k))
	return v == "1" || v == "true"
}

// protocolParams are URL parameters of the HTTP interface itself, not
// settings. The ones this interface has no use for are accepted and
// ignored: every answer is buffered whole (as with wait_end_of_query=1)
// and carries no progress headers, and there are no sessions (each query
// stands alone: SET, USE and temporary tables are refused).
var protocolParams = map[string]bool{
	"query": true, "database": true, "default_format": true, "query_id": true, "user": true, "password": true,
	"quota_key": true, "session_id": true, "session_timeout": true, "session_check": true,
	"compress": true, "decompress": true, "enable_http_compression": true, "http_zlib_compression_level": true,
	"client_protocol_version": true, "wait_end_of_query": true, "buffer_size": true,
	"send_progress_in_http_headers": true, "http_headers_progress_interval_ms": true, "add_http_cors_header": true,
	"network_compression_method": true, "network_zstd_compression_level": true,
	"cancel_http_readonly_queries_on_client_close": true, "http_native_compression_disable_checksumming_on_decompress": true,
	"http_wait_end_of_query": true, "http_response_buffer_size": true,
	// Inserts are synchronous and foreground here already.
	"async_insert": true, "wait_for_async_insert": true, "async_insert_deduplicate": true,
	"distributed_foreground_insert": true, "insert_distributed_sync": true,
}

// Settings a user may set per query from the URL. Limits may only be
// lowered below the user's own (a higher or unlimited value is taken as the
// user's limit); the rest shape input and output. Settings
// that name files (format_schema, format_template_*) or lift guards are
// not among them.
var (
	limitSettingNames = map[string]bool{
		"max_execution_time": true, "max_result_rows": true, "max_result_bytes": true,
		"max_rows_to_read": true, "max_bytes_to_read": true, "max_memory_usage": true,
	}
	freeSettings = map[string]bool{
		"max_threads": true, "max_block_size": true, "join_use_nulls": true, "extremes": true,
		"date_time_output_format": true, "date_time_input_format": true, "session_timezone": true,
		"insert_deduplication_token": true, "insert_deduplicate": true, "result_overflow_mode": true,
		"timeout_overflow_mode": true, "log_comment": true, "readonly": true,
		"format_csv_delimiter": true, "format_csv_allow_single_quotes": true, "format_csv_allow_double_quotes": true,
		"format_csv_null_representation": true, "format_tsv_null_representation": true,
		"allow_experimental_analyzer": true, "enable_analyzer": true, "max_query_size": true,
	}
	settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

func allowedSetting(name string) bool {
	if freeSettings[name] || limitSettingNames[name] {
		return true
	}
	return strings.HasPrefix(name, "output_format_") || strings.HasPrefix(name, "input_format_")
}

// querySettings returns the settings of one query as "name = 'value'"
// pairs: the user's limits, then what the URL asks within them.
func querySettings(p params, u *user) ([]string, *Exception) {
	set := map[string]string{}
	for name, vs := range p.Values {
		if protocolParams[name] || strings.HasPrefix(name, "param_") || len(vs) == 0 {
			continue
		}
		if !settingName.MatchString(name) {
			return nil, exception(codeUnknownSetting, "Unknown setting '%s'", name)
		}
		if !allowedSetting(name) {
			return nil, exception(codeSettingConstraint, "Setting %s should not be changed", name)
		}
		set[name] = vs[len(vs)-1]
	}
	limit := func(name string, max float64) *Exception {
		if max <= 0 {
			return nil
		}
		v, ok := set[name]
		if !ok {
			set[name] = strconv.FormatFloat(max, 'f', -1, 64)
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return exception(codeBadArguments, "Setting %s: %q is not a number", name, v)
		}
		if f <= 0 || f > max {
			// Clamped, not refused: clients send their own defaults
			// (clickhouse-go a max_execution_time from its timeouts).
			set[name] = strconv.FormatFloat(max, 'f', -1, 64)
		}
		return nil
	}
	l := u.limits
	for _, err := range []*Exception{
		limit("max_execution_time", l.MaxExecutionTime.Seconds()),
		limit("max_result_rows", float64(l.MaxResultRows)),
		limit("max_memory_usage", float64(l.MaxMemoryUsage)),
	} {
		if err != nil {
			return nil, err
		}
	}
	if v, ok := set["readonly"]; ok && v != "1" && v != "2" && !u.admin() {
		return nil, exception(codeReadonly, "Cannot modify 'readonly' setting in readonly mode")
	}
	if !u.admin() {
		set["readonly"] = "1"
	} else if _, ok := set["readonly"]; ok && set["readonly"] == "0" {
		delete(set, "readonly")
	}
	if _, ok := set["insert_deduplication_token"]; ok {
		set["insert_deduplicate"] = "1"
	}
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	// readonly goes last: once set, no later setting of the clause changes.
	out := make([]string, 0, len(names))
	for _, k := range names {
		if k != "readonly" {
			out = append(out, k+" = "+quote(set[k]))
		}
	}
	if v, ok := set["readonly"]; ok {
		out = append(out, "readonly = "+quote(v))
	}
	return out, nil
}

// quote writes a string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// quoteIdent writes an identifier.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}
