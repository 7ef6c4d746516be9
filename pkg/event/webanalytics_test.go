package event

import "testing"

func TestWebAnalyticsIDs(t *testing.T) {
	for in, want := range map[string]string{
		"1700000000123456789": "1700000000123456789", " 42 ": "42", "": "", "0": "", "00": "", "abc": "",
		"17e3": "", "-1": "", "1.5": "", "12345678901234567890123456789012345678901234567890123456789012345": "",
	} {
		if got := YMClientID(in); got != want {
			t.Errorf("YMClientID(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"GA1.2.1234567890.1700000000": "1234567890.1700000000", "GA1.3.1.2": "1.2", "ga1.1.5.6": "5.6",
		"1234567890.1700000000": "1234567890.1700000000", "GS1.1.1700000000.1.0": "", "1234567890": "",
		"GA1.2.abc.1700000000": "", "GA1.2..1": "", "1.2.3": "", "": "", "amp-AbCdEf": "",
	} {
		if got := GAClientID(in); got != want {
			t.Errorf("GAClientID(%q) = %q, want %q", in, got, want)
		}
	}
	e := Envelope{V: 1, ID: "x", Type: "pageview", TS: 1, YMClientID: "12a"}
	if err := e.Validate(); err == nil {
		t.Fatal("a ym_client_id that is not digits validated")
	}
	e.YMClientID, e.GAClientID = "12", "GA1.2.3.4"
	if err := e.Validate(); err == nil {
		t.Fatal("a ga_client_id not normalised validated")
	}
}
