package ingest

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// Pixel query parameters. The write key "k" is read by the HTTP handler; it
// is not part of the envelope and never leaves the collector.
const (
	ParamKey       = "k"
	paramType      = "t"
	paramName      = "n"
	paramClientID  = "cid"
	paramURL       = "u"
	paramReferrer  = "r"
	paramTS        = "ts"
	paramEventID   = "eid"
	paramPropPrefx = "p."
	paramPhone     = "ph" // a goal's phone, normalised to E.164
	paramEmail     = "em" // a goal's e-mail, lower-cased
	// The visitor's web-analytics ids, as the tracker reads them from the
	// _ym_uid and _ga cookies; a value that is not one is dropped, not the
	// hit (the cookies are the analytics', not ours to vouch for).
	paramYM = "ym"
	paramGA = "ga"
)

// pixelField maps envelope field names in validation errors back to the
// pixel's query parameters, so the reason names what the sender wrote.
var pixelField = map[string]string{
	"id": paramEventID, "type": paramType, "name": paramName, "client_id": paramClientID,
	"url": paramURL, "referrer": paramReferrer, "ts": paramTS, "user_agent": "User-Agent",
}

// Pixel parses the query string of a pixel hit into an envelope. Malformed
// pairs are skipped as browsers and proxies sometimes mangle query strings;
// a parameter that is present but wrong is a field error.
func Pixel(rawQuery string, m Meta) (event.Envelope, error) {
	q, _ := url.ParseQuery(rawQuery)
	return PixelQuery(q, m)
}

// PixelQuery is Pixel of a query string already parsed (the handler parses
// it once, for the key and for the envelope).
func PixelQuery(q url.Values, m Meta) (event.Envelope, error) {
	get := func(name string) string { return clean(q.Get(name)) }
	e := event.Envelope{
		Type:       get(paramType),
		Name:       get(paramName),
		ClientID:   get(paramClientID),
		URL:        get(paramURL),
		Referrer:   get(paramReferrer),
		ID:         get(paramEventID),
		UserAgent:  clean(m.UserAgent),
		IP:         m.IP,
		YMClientID: event.YMClientID(q.Get(paramYM)),
		GAClientID: event.GAClientID(q.Get(paramGA)),
		UTM: event.UTM{
			Source:   get("utm_source"),
			Medium:   get("utm_medium"),
			Campaign: get("utm_campaign"),
			Content:  get("utm_content"),
			Term:     get("utm_term"),
		},
	}
	if e.Type == "" {
		e.Type = event.TypePageview
	}
	if e.URL == "" {
		e.URL = clean(m.Referer)
	}
	if s := q.Get(paramTS); s != "" {
		ts, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return e, &event.FieldError{Field: paramTS, Reason: "not an integer, Unix milliseconds expected"}
		}
		if err := checkTS(paramTS, ts, m.Now); err != nil {
			return e, err
		}
		e.TS = ts
	} else {
		e.TS = m.Now.UnixMilli()
	}
	for _, p := range event.ClickIDParams {
		if v := get(p); v != "" {
			if e.ClickIDs == nil {
				e.ClickIDs = map[string]string{}
			}
			e.ClickIDs[p] = v
		}
	}
	for k, vs := range q {
		name, ok := strings.CutPrefix(k, paramPropPrefx)
		if !ok {
			continue
		}
		if name == "" {
			return e, &event.FieldError{Field: k, Reason: "property name required after \"p.\""}
		}
		if len(e.Props) >= event.MaxProps {
			return e, &event.FieldError{Field: "p.*", Reason: "more than " + strconv.Itoa(event.MaxProps) + " properties"}
		}
		if e.Props == nil {
			e.Props = map[string]string{}
		}
		e.Props[clean(name)] = clean(vs[0])
	}
	contact(&e, q.Get(paramPhone), clean(q.Get(paramEmail)), paramPhone, paramEmail, m.PhoneRegion, false)
	if err := finish(&e, m, "pixel"); err != nil {
		return e, pixelFieldError(err)
	}
	if err := checkName(paramName, &e); err != nil {
		return e, err
	}
	return e, nil
}

func pixelFieldError(err error) error {
	fe := AsFieldError("query", err)
	switch {
	case pixelField[fe.Field] != "":
		return &event.FieldError{Field: pixelField[fe.Field], Reason: fe.Reason}
	case strings.HasPrefix(fe.Field, "props."):
		return &event.FieldError{Field: paramPropPrefx + strings.TrimPrefix(fe.Field, "props."), Reason: fe.Reason}
	case strings.HasPrefix(fe.Field, "click_ids."):
		return &event.FieldError{Field: strings.TrimPrefix(fe.Field, "click_ids."), Reason: fe.Reason}
	}
	return fe
}

// StripKey returns the raw query without any write-key parameter, for
// dead letters and logs: the key must never be stored or logged.
func StripKey(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	var b strings.Builder
	for pair := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if un, err := url.QueryUnescape(name); err == nil {
			name = un
		}
		if name == ParamKey || strings.TrimSpace(name) == ParamKey {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}
