package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cdptest"
	"github.com/throughline/throughline/pkg/kafka"
)

// TestTrackerSendsWebAnalyticsIDs: on a page that runs Yandex Metrica and
// Google Analytics (here: their cookies, _ym_uid set before the tracker
// loads, _ga only after it ran, as GA's own async script may), the page view
// carries the Metrica ClientID, and the goal sent after _ga appeared carries
// GA's client id too — the last two fields of the cookie.
func TestTrackerSendsWebAnalyticsIDs(t *testing.T) {
	b := cdptest.Start(t)
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	_, cport, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	collectorURL := "http://collector.test:" + cport
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, pageHead, "metrica", `<script>document.cookie='_ym_uid=1700000000123456789; path=/';</script>`, collectorURL, keyMoscow)
		fmt.Fprint(w, `<h1>Windscreens</h1></body></html>`)
	}))
	t.Cleanup(site.Close)
	_, port, _ := net.SplitHostPort(site.Listener.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.Navigate(ctx, "http://www.glass.test:"+port+"/", ""); err != nil {
		t.Fatal(err)
	}
	view := decodeAll(t, k.consume(t, kafka.TopicRaw, 1))[0]
	if view.YMClientID != "1700000000123456789" || view.GAClientID != "" {
		t.Fatalf("page view: ym %q ga %q", view.YMClientID, view.GAClientID)
	}
	if err := tab.Eval(ctx, `document.cookie='_ga=GA1.2.1234567890.1700000000; path=/'; throughline('goal', 'call_click'); 1`, nil); err != nil {
		t.Fatal(err)
	}
	goal := decodeAll(t, k.consume(t, kafka.TopicRaw, 2))[1]
	if goal.Name != "call_click" || goal.YMClientID != "1700000000123456789" || goal.GAClientID != "1234567890.1700000000" || goal.ClientID != view.ClientID {
		t.Fatalf("goal: %+v", goal)
	}
	if ex := b.Thrown(); len(ex) > 0 {
		t.Fatalf("the page threw: %v", ex)
	}
}
