package calls

// callibri are the names a Callibri call webhook may use
// (docs/webhooks/callibri.md): the names of Callibri's statistics API for
// calls (link_download, call_status, conversations_number, name_channel) and
// the spellings its webhooks and integrations are seen with.
var callibri = trackedNames{
	id:       []string{"id", "call_id", "callid", "id_call"},
	caller:   []string{"phone", "client_phone", "caller", "caller_phone", "phone_number", "from"},
	tracking: []string{"callibri_number", "tracking_number", "number", "site_phone", "virtual_number", "to"},
	start:    []string{"date", "datetime", "call_date", "date_call", "created_at", "time", "timestamp"},
	wait:     []string{"wait_duration", "waiting", "wait_time", "wait"},
	talk:     []string{"conversation_duration", "talk_duration", "talk_time", "billsec", "duration"},
	status:   []string{"call_status", "status", "answered"},
	phase:    []string{"event", "event_type", "action"},
	record:   []string{"link_download", "record_url", "record", "recording", "record_link"},
	url:      []string{"landing_page", "lid_landing", "url", "page", "page_url"},
	referrer: []string{"referrer", "referer", "ref"},
	vendorIDs: []struct{ ns, name string }{
		{"cb", "callibri_id"}, {"cb", "visitor_id"}, {"cb", "client_id"}, {"ym", "metrika_client_id"},
		{"ym", "ym_client_id"}, {"ym", "yandex_client_id"}, {"ga", "ga_client_id"}, {"ga", "google_client_id"},
	},
	props: map[string][]string{"callibri_channel": {"name_channel", "channel_name", "channel"},
		"callibri_source": {"source", "traffic_type"}, "callibri_site": {"site_id", "site"}},
}

func parseCallibri(r Request, s Settings) (Call, error) { return parseTracked(r, s, callibri) }
