package costpull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/costs"
)

const (
	yandexToken = "y0_AgAAAAB-yandex-secret-token"
	vkToken     = "vk-secret-access-token-0001"
	metaToken   = "EAAB-meta-secret-access-token"
	gRefresh    = "1//google-secret-refresh-token"
	gDev        = "google-secret-developer-token"
	gSecret     = "google-secret-client-secret"
	gAccess     = "ya29.google-secret-access-token"
)

// waits records the pauses a fetcher asked for, instead of pausing.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) wait(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func newHTTP(w *waits) *HTTP {
	h := &HTTP{Client: &http.Client{Timeout: 10 * time.Second}, MaxBytes: 1 << 20}
	if w != nil {
		h.Wait = w.wait
	}
	return h
}

func setTokens(t *testing.T) {
	t.Setenv("TEST_YANDEX_TOKEN", yandexToken)
	t.Setenv("TEST_VK_TOKEN", vkToken)
	t.Setenv("TEST_META_TOKEN", metaToken)
	t.Setenv("TEST_G_REFRESH", gRefresh)
	t.Setenv("TEST_G_DEV", gDev)
	t.Setenv("TEST_G_SECRET", gSecret)
}

func rows(t *testing.T, rep Report) []costs.Row {
	t.Helper()
	rs, err := costs.Parse(rep.Body, costs.Options{Format: rep.Format, Currency: "RUB", AllowEmpty: true})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func wantErr(t *testing.T, err error, permanent bool, after time.Duration, text string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a classified error", err)
	}
	if e.Permanent != permanent || e.RetryAfter != after || !strings.Contains(e.Error(), text) {
		t.Fatalf("got permanent=%v after=%v %q; want permanent=%v after=%v …%s…", e.Permanent, e.RetryAfter, e.Error(), permanent, after, text)
	}
	for _, s := range []string{yandexToken, vkToken, metaToken, gRefresh, gDev, gSecret, gAccess} {
		if strings.Contains(e.Error(), s) {
			t.Fatalf("error shows a secret: %q", e.Error())
		}
	}
}

const yandexTSV = "Date\tCampaignId\tCampaignName\tImpressions\tClicks\tCost\n" +
	"2026-12-05\t70001\tWindscreens\t1000\t40\t1234560000\n" +
	"2026-12-06\t70001\tWindscreens\t900\t30\t1000000000\n" +
	"Total rows: 2\n"

// TestYandexOfflineReport: Yandex answers 201 (queued), 202 (building) with
// retryIn, then 200 with the TSV; the fetcher sends the same report (same
// name) each time, waits what retryIn said, and sends the agency's
// Client-Login.
func TestYandexOfflineReport(t *testing.T) {
	setTokens(t)
	var (
		mu    sync.Mutex
		names []string
		calls int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if r.Header.Get("Authorization") != "Bearer "+yandexToken || r.Header.Get("Client-Login") != "dealer-msk" ||
			r.Header.Get("processingMode") != "auto" || r.Header.Get("returnMoneyInMicros") == "false" {
			t.Errorf("headers: %v", r.Header)
		}
		var body struct {
			Params struct {
				SelectionCriteria  map[string]string
				FieldNames         []string
				ReportName         string
				ReportType, Format string
				DateRangeType      string
				IncludeVAT         string
			} `json:"params"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		p := body.Params
		if p.SelectionCriteria["DateFrom"] != "2026-12-05" || p.SelectionCriteria["DateTo"] != "2026-12-06" || p.Format != "TSV" ||
			p.ReportType != "CAMPAIGN_PERFORMANCE_REPORT" || p.DateRangeType != "CUSTOM_DATE" || p.IncludeVAT != "YES" ||
			!reflect.DeepEqual(p.FieldNames, yandexFields) {
			t.Errorf("params: %+v", p)
		}
		names = append(names, p.ReportName)
		switch calls {
		case 1:
			w.Header().Set("retryIn", "3")
			w.WriteHeader(http.StatusCreated)
		case 2:
			w.Header().Set("retryIn", "7")
			w.WriteHeader(http.StatusAccepted)
		default:
			io.WriteString(w, yandexTSV)
		}
	}))
	defer srv.Close()
	var ws waits
	y := &Yandex{H: newHTTP(&ws), Conn: tenants.CostConnector{Provider: tenants.CostYandexDirect, BaseURL: srv.URL,
		TokenEnv: "TEST_YANDEX_TOKEN", ClientLogin: "dealer-msk"}}
	rep, err := y.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || !reflect.DeepEqual(ws.d, []time.Duration{3 * time.Second, 7 * time.Second}) {
		t.Fatalf("%d calls, waits %v; want 3 calls waiting 3s, 7s", calls, ws.d)
	}
	if names[0] == "" || names[0] != names[1] || names[1] != names[2] {
		t.Fatalf("report names differ between polls: %q", names)
	}
	got := rows(t, rep)
	if len(got) != 2 || got[0].Amount != 123456 || got[1].Amount != 100000 || got[0].Clicks != 40 {
		t.Fatalf("rows %+v", got)
	}
}

// TestYandexErrors: the Reports API's error answers, classified.
func TestYandexErrors(t *testing.T) {
	setTokens(t)
	cases := []struct {
		status    int
		header    map[string]string
		body      string
		permanent bool
		after     time.Duration
		text      string
	}{
		// an invalid token; the answer even echoes it back, and it must not show
		{400, nil, `{"error":{"request_id":"1","error_code":53,"error_string":"Authorization error","error_detail":"Invalid OAuth token ` + yandexToken + `"}}`,
			true, 0, "error 53: Authorization error"},
		{400, nil, `{"error":{"request_id":"2","error_code":9000,"error_string":"Limit of offline reports exceeded","error_detail":"queue"}}`,
			false, time.Minute, "error 9000"},
		{400, map[string]string{"Retry-After": "120"}, `{"error":{"request_id":"3","error_code":152,"error_string":"Not enough units"}}`,
			false, 2 * time.Minute, "error 152"},
		{400, nil, `{"error":{"request_id":"4","error_code":8000,"error_string":"Invalid request","error_detail":"FieldNames"}}`,
			true, 0, "error 8000: Invalid request (FieldNames)"},
		{500, nil, `{"error":{"request_id":"5","error_code":1000,"error_string":"Server temporarily unavailable"}}`, false, time.Minute, "error 1000"},
		{502, nil, `<html>Bad Gateway</html>`, false, 0, "HTTP 502"},
	}
	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			y := &Yandex{H: newHTTP(nil), Conn: tenants.CostConnector{BaseURL: srv.URL, TokenEnv: "TEST_YANDEX_TOKEN"}}
			_, err := y.Fetch(context.Background(), "2026-12-05", "2026-12-06")
			wantErr(t, err, tc.permanent, tc.after, tc.text)
		})
	}
	t.Run("token not set", func(t *testing.T) {
		y := &Yandex{H: newHTTP(nil), Conn: tenants.CostConnector{BaseURL: "http://127.0.0.1:1", TokenEnv: "TEST_UNSET_TOKEN_VAR"}}
		_, err := y.Fetch(context.Background(), "2026-12-05", "2026-12-06")
		wantErr(t, err, true, 0, "token_env: environment variable TEST_UNSET_TOKEN_VAR is not set")
	})
}

// googleServer answers the OAuth token exchange and searchStream; stream
// is what searchStream answers next.
type googleServer struct {
	*httptest.Server
	mu        sync.Mutex
	exchanges int
	status    int
	stream    string
	header    map[string]string
	t         *testing.T
}

func newGoogle(t *testing.T) *googleServer {
	g := &googleServer{t: t, status: 200}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		defer g.mu.Unlock()
		switch r.URL.Path {
		case "/token":
			r.ParseForm()
			if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != gRefresh ||
				r.PostForm.Get("client_id") != "123.apps.googleusercontent.com" || r.PostForm.Get("client_secret") != gSecret {
				w.WriteHeader(400)
				io.WriteString(w, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
				return
			}
			g.exchanges++
			io.WriteString(w, `{"access_token":"`+gAccess+`","expires_in":3599,"token_type":"Bearer"}`)
		case "/v21/customers/1234567890/googleAds:searchStream":
			if r.Header.Get("Authorization") != "Bearer "+gAccess || r.Header.Get("developer-token") != gDev ||
				r.Header.Get("login-customer-id") != "9876543210" {
				t.Errorf("headers %v", r.Header)
			}
			var q struct{ Query string }
			json.NewDecoder(r.Body).Decode(&q)
			if !strings.Contains(q.Query, "segments.date BETWEEN '2026-12-05' AND '2026-12-06'") || !strings.Contains(q.Query, "metrics.cost_micros") {
				t.Errorf("query %q", q.Query)
			}
			for k, v := range g.header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(g.status)
			io.WriteString(w, g.stream)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *googleServer) answer(status int, stream string, header map[string]string) {
	g.mu.Lock()
	g.status, g.stream, g.header = status, stream, header
	g.mu.Unlock()
}

func googleConn(g *googleServer) tenants.CostConnector {
	return tenants.CostConnector{Provider: tenants.CostGoogleAds, BaseURL: g.URL + "/v21", TokenURL: g.URL + "/token",
		TokenEnv: "TEST_G_REFRESH", DeveloperTokenEnv: "TEST_G_DEV", ClientSecretEnv: "TEST_G_SECRET",
		ClientID: "123.apps.googleusercontent.com", CustomerID: "123-456-7890", LoginCustomerID: "987-654-3210"}
}

const googleStream = `[{"results":[{"segments":{"date":"2026-12-05"},"campaign":{"resourceName":"customers/1234567890/campaigns/111","id":"111","name":"Brand"},
"metrics":{"clicks":"10","costMicros":"99910000","impressions":"300"},"customer":{"currencyCode":"RUB"}}],"fieldMask":"segments.date,campaign.id","requestId":"r1"}]`

// TestGoogleSearchStream: refresh token → access token (exchanged once and
// cached), then searchStream with developer-token and login-customer-id;
// Google's error answers, a stream broken off mid-way included.
func TestGoogleSearchStream(t *testing.T) {
	setTokens(t)
	g := newGoogle(t)
	gf := &Google{H: newHTTP(nil), Conn: googleConn(g)}
	g.answer(200, googleStream, nil)
	for i := 0; i < 2; i++ {
		rep, err := gf.Fetch(context.Background(), "2026-12-05", "2026-12-06")
		if err != nil {
			t.Fatal(err)
		}
		if got := rows(t, rep); len(got) != 1 || got[0].Amount != 9991 || got[0].Currency != "RUB" {
			t.Fatalf("rows %+v", got)
		}
	}
	if g.exchanges != 1 {
		t.Fatalf("%d token exchanges for two pulls, want 1 (the access token is cached)", g.exchanges)
	}
	quota := `[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED",
"details":[{"@type":"type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure","errors":[{"errorCode":{"quotaError":"RESOURCE_TEMPORARILY_EXHAUSTED"},
"message":"Too many requests. Retry in 30 seconds.","details":{"quotaErrorDetails":{"rateScope":"ACCOUNT","rateName":"Requests per service per method","retryDelay":"30s"}}}],"requestId":"q1"}]}}]`
	g.answer(429, quota, nil)
	_, err := gf.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, false, 30*time.Second, "quotaError RESOURCE_TEMPORARILY_EXHAUSTED")

	broken := googleStream[:len(googleStream)-1] + `,{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}]`
	g.answer(200, broken, nil)
	_, err = gf.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, false, 0, "INTERNAL (500)")

	denied := `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED",
"details":[{"@type":"type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure","errors":[{"errorCode":{"authorizationError":"USER_PERMISSION_DENIED"},"message":"User doesn't have permission to access customer."}],"requestId":"d1"}]}}`
	g.answer(403, denied, nil)
	_, err = gf.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, true, 0, "authorizationError USER_PERMISSION_DENIED")

	// An access token revoked early: 401, retried with a new exchange.
	g.answer(401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`, nil)
	_, err = gf.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, false, 0, "UNAUTHENTICATED")
	g.answer(200, googleStream, nil)
	if _, err := gf.Fetch(context.Background(), "2026-12-05", "2026-12-06"); err != nil {
		t.Fatal(err)
	}
	if g.exchanges != 2 {
		t.Fatalf("%d token exchanges, want 2: a 401 forgets the access token", g.exchanges)
	}

	// A revoked refresh token is permanent.
	conn := googleConn(g)
	conn.ClientID = "other.apps.googleusercontent.com"
	_, err = (&Google{H: newHTTP(nil), Conn: conn}).Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, true, 0, "invalid_grant")
}

// TestVKStatistics: the statistics answer, an invalid token, a rate limit.
func TestVKStatistics(t *testing.T) {
	setTokens(t)
	var mode string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/statistics/campaigns/day.json" || r.URL.Query().Get("date_from") != "2026-12-05" ||
			r.URL.Query().Get("date_to") != "2026-12-06" || r.URL.Query().Get("metrics") != "base" {
			t.Errorf("request %s", r.URL)
		}
		switch {
		case r.Header.Get("Authorization") != "Bearer "+vkToken || mode == "invalid":
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"invalid_token","message":"Invalid access token"}}`)
		case mode == "limit":
			w.Header().Set("Retry-After", "17")
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"code":"rate_limit","message":"Too many requests"}}`)
		default:
			io.WriteString(w, `{"items":[{"id":555001,"rows":[{"date":"2026-12-05","base":{"shows":900,"clicks":15,"spent":"1234.50"}}]}]}`)
		}
	}))
	defer srv.Close()
	v := &VK{H: newHTTP(nil), Conn: tenants.CostConnector{BaseURL: srv.URL, TokenEnv: "TEST_VK_TOKEN"}}
	rep, err := v.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(t, rep); len(got) != 1 || got[0].Amount != 123450 {
		t.Fatalf("rows %+v", got)
	}
	mode = "limit"
	_, err = v.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, false, 17*time.Second, "rate_limit")
	mode = "invalid"
	_, err = v.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	wantErr(t, err, true, 0, "invalid_token")
}

// TestMetaInsights: two pages joined; the throttling errors 17 and 613 with
// X-Business-Use-Case-Usage; an expired token (190); a paging.next that
// leaves the API is not followed.
func TestMetaInsights(t *testing.T) {
	setTokens(t)
	var (
		mode      string
		elsewhere bool
	)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere = true }))
	defer other.Close()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/v21.0/act_1001/insights" || q.Get("level") != "campaign" || q.Get("time_increment") != "1" ||
			q.Get("time_range") != `{"since":"2026-12-05","until":"2026-12-06"}` || r.Header.Get("Authorization") != "Bearer "+metaToken {
			t.Errorf("request %s %v", r.URL, r.Header)
		}
		switch mode {
		case "17":
			w.Header().Set("X-Business-Use-Case-Usage", `{"1001":[{"type":"ads_insights","call_count":100,"total_cputime":30,"total_time":40,"estimated_time_to_regain_access":12}]}`)
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"User request limit reached","type":"OAuthException","code":17,"error_subcode":2446079,"fbtrace_id":"A1"}}`)
			return
		case "613":
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"error_subcode":1487742,"fbtrace_id":"A2"}}`)
			return
		case "190":
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A3"}}`)
			return
		}
		next := srv.URL + "/v21.0/act_1001/insights?" + url.Values{"level": {"campaign"}, "time_increment": {"1"},
			"time_range": {q.Get("time_range")}, "after": {"MQZDZD"}}.Encode()
		if mode == "escape" {
			next = other.URL + "/v21.0/act_1001/insights?after=x"
		}
		if q.Get("after") == "" {
			fmt.Fprintf(w, `{"data":[{"campaign_id":"1","campaign_name":"Windscreens","spend":"100.50","clicks":"3","impressions":"70","account_currency":"RUB","date_start":"2026-12-05","date_stop":"2026-12-05"}],
"paging":{"cursors":{"before":"MAZDZD","after":"MQZDZD"},"next":%q}}`, next)
			return
		}
		io.WriteString(w, `{"data":[{"campaign_id":"1","campaign_name":"Windscreens","spend":"200","clicks":"5","impressions":"90","account_currency":"RUB","date_start":"2026-12-06","date_stop":"2026-12-06"}],
"paging":{"cursors":{"before":"MQZDZD","after":"MgZDZD"}}}`)
	}))
	defer srv.Close()
	m := &Meta{H: newHTTP(nil), Conn: tenants.CostConnector{BaseURL: srv.URL + "/v21.0", TokenEnv: "TEST_META_TOKEN", AdAccountID: "act_1001"}}
	rep, err := m.Fetch(context.Background(), "2026-12-05", "2026-12-06")
	if err != nil {
		t.Fatal(err)
	}
	got := rows(t, rep)
	if len(got) != 2 || got[0].Amount != 10050 || got[1].Amount != 20000 || got[1].Date != "2026-12-06" {
		t.Fatalf("rows %+v", got)
	}
	for _, tc := range []struct {
		mode      string
		permanent bool
		after     time.Duration
		text      string
	}{
		{"17", false, 12 * time.Minute, "OAuthException 17/2446079: User request limit reached"},
		{"613", false, 5 * time.Minute, "613/1487742"},
		{"190", true, 0, "190/463"},
		{"escape", true, 0, "paging.next leaves"},
	} {
		mode = tc.mode
		_, err := m.Fetch(context.Background(), "2026-12-05", "2026-12-06")
		wantErr(t, err, tc.permanent, tc.after, tc.text)
	}
	if elsewhere {
		t.Fatal("a paging.next to another host was followed")
	}
}
