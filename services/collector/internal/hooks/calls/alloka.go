package calls

// alloka are the names an Alloka call notification may use
// (docs/webhooks/alloka.md): Alloka's API v2 documents calls, its HTTP
// notifications' parameter names are not public, so the names its API and
// integrations use are accepted.
var alloka = trackedNames{
	id:       []string{"call_id", "callid", "id", "call_uuid", "uid", "uuid"},
	caller:   []string{"caller", "caller_number", "caller_phone", "client_phone", "from", "phone", "callerid"},
	tracking: []string{"virtual_number", "tracking_number", "number", "called", "called_number", "to", "did"},
	start:    []string{"start_time", "started_at", "call_time", "call_date", "datetime", "date", "time", "timestamp"},
	wait:     []string{"wait_time", "wait", "waiting", "wait_duration", "ring_duration"},
	talk:     []string{"talk_time", "talk_duration", "duration_talk", "conversation", "billsec", "duration"},
	status:   []string{"status", "call_status", "disposition", "result", "answered"},
	phase:    []string{"event", "event_type", "type", "state"},
	record:   []string{"record_url", "record", "recording", "recording_url", "record_link", "link"},
	url:      []string{"page_url", "landing_page", "url", "page"},
	referrer: []string{"referrer", "referer", "ref"},
	vendorIDs: []struct{ ns, name string }{
		{"alloka", "visitor_id"}, {"alloka", "alloka_id"}, {"ym", "ym_client_id"}, {"ym", "yandex_client_id"},
		{"ym", "ym_uid"}, {"ga", "ga_client_id"}, {"ga", "google_client_id"}, {"ga", "cid"},
	},
	props: map[string][]string{"alloka_site": {"site", "site_id", "domain"}, "alloka_source": {"source", "source_name"}},
}

func parseAlloka(r Request, s Settings) (Call, error) { return parseTracked(r, s, alloka) }
