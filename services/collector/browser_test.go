package collector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/throughline/throughline/pkg/cdptest"
	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/kafka"
)

// site serves a customer's two pages that load the tracker from the
// collector, and records what its lead form posts to /thanks.
type site struct {
	srv   *httptest.Server
	port  string
	leads chan url.Values
}

const pageHead = `<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
<script>window.throughline=window.throughline||function(){(throughline.q=throughline.q||[]).push(arguments)};</script>
%s<script async src="%s/t.js" data-key="%s"></script></head><body>
`

// blockCookies makes document.cookie read empty and ignore writes, as a
// browser that blocks cookies for the site does.
const blockCookies = `<script>Object.defineProperty(document,'cookie',{get:function(){return ''},set:function(){}});</script>`

func startSite(t *testing.T, collectorURL, key string) *site {
	t.Helper()
	s := &site{leads: make(chan url.Values, 4)}
	head := func(w http.ResponseWriter, r *http.Request, title string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		extra := ""
		if strings.HasPrefix(r.Host, "www.nocookie.") {
			extra = blockCookies
		}
		fmt.Fprintf(w, pageHead, title, extra, collectorURL, key)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page1.html", func(w http.ResponseWriter, r *http.Request) {
		head(w, r, "landing")
		fmt.Fprint(w, `<h1>Spring sale</h1><a id="next" href="/page2.html">Prices</a></body></html>`)
	})
	mux.HandleFunc("GET /page2.html", func(w http.ResponseWriter, r *http.Request) {
		head(w, r, "prices")
		fmt.Fprint(w, `<h1>Prices</h1>
<form id="lead" data-tl-goal="form_submit" action="/thanks" method="get">
<input type="hidden" name="tl_client_id">
<input type="text" name="name" value="Ivan">
<input type="tel" name="phone" value="8 (916) 123-45-67">
<input type="email" name="email" value="Ivan.Petrov@Example.RU">
<button type="submit">Call me back</button>
</form>
<script>(window.throughlineReady=window.throughlineReady||[]).push(function(cid){document.body.setAttribute('data-cid',cid)});</script>
</body></html>`)
	})
	mux.HandleFunc("GET /contacts.html", func(w http.ResponseWriter, r *http.Request) {
		head(w, r, "contacts")
		fmt.Fprint(w, `<h1>Contacts</h1>
<p>Call us: <a id="tel" href="tel:+74950000000">+7 (495) 000-00-00</a></p>
<p id="text">Or dial +7 (495) 000-00-00 from any phone.</p>
<p>Head office: <span id="marked" data-tl-phone>8 (495) 123-00-00</span></p>
<p>Support: <a id="other" href="tel:+74957654321">+7 (495) 765-43-21</a></p>
<form><input id="field" type="tel" data-tl-phone value="+7 (495) 000-00-00"></form>
</body></html>`)
	})
	mux.HandleFunc("GET /thanks", func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.leads <- r.URL.Query():
		default:
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><body>Thank you</body></html>`)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	_, s.port, _ = net.SplitHostPort(s.srv.Listener.Addr().String())
	return s
}

// TestTrackerInChromium drives a real headless Chromium through a landing
// with UTMs and a click id, an internal navigation and a form submission on a
// site whose pages load the tracker from the collector, and checks what
// reached Kafka: one client id over both page views, the landing's
// attribution on the second page, the goal with the phone normalised, and
// the client id in the form's hidden field.
func TestTrackerInChromium(t *testing.T) {
	b := cdptest.Start(t)
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	_, cport, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	// Two hosts, as in production: the customer's site sets its own
	// first-party cookie; the collector is another origin.
	collectorURL := "http://collector.test:" + cport
	site := startSite(t, collectorURL, keyMoscow)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://www.shop.test:" + site.port
	landing := origin + "/page1.html?utm_source=yandex&utm_medium=cpc&utm_campaign=spring&yclid=123"
	// Browsers pass a cross-site referrer as its origin only (and none from
	// https to http), so the landing's referrer is the search engine's origin.
	const searchPage, searchReferrer = "http://yandex.ru/search/?text=sale", "http://yandex.ru/"

	// 1. The landing: an ad click from a Yandex search.
	if err := tab.Navigate(ctx, landing, searchPage); err != nil {
		t.Fatal(err)
	}
	first := decodeAll(t, k.consume(t, kafka.TopicRaw, 1))[0]
	var cid string
	if err := tab.Eval(ctx, "throughline.clientId()", &cid); err != nil {
		t.Fatal(err)
	}
	jar, err := tab.Cookies(ctx, origin+"/")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := jar["_tl_cid"]
	if !ok || c.Value != cid || cid == "" {
		t.Fatalf("client id cookie %+v, throughline.clientId() %q", c, cid)
	}
	// First-party, on the site's registrable domain, Lax, readable by the
	// site's other scripts (call tracking) — so not HttpOnly. Two years are
	// asked for; Chromium caps any cookie at 400 days.
	days := time.Until(time.Unix(int64(c.Expires), 0)).Hours() / 24
	if c.Domain != ".shop.test" || c.Path != "/" || c.SameSite != "Lax" || c.HTTPOnly || days < 399 || days > 731 {
		t.Fatalf("client id cookie %+v (%.1f days)", c, days)
	}
	if _, ok := jar["_tl_visit"]; !ok {
		t.Fatalf("visit cookie missing: %v", jar)
	}

	// 2. An internal page: no UTMs in its URL.
	if err := tab.Eval(ctx, "document.getElementById('next').click()", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Wait(ctx, "Page.loadEventFired"); err != nil {
		t.Fatal(err)
	}
	second := decodeAll(t, k.consume(t, kafka.TopicRaw, 2))[1]
	var hidden, readyCID string
	if err := tab.Eval(ctx, `document.querySelector('input[name="tl_client_id"]').value`, &hidden); err != nil {
		t.Fatal(err)
	}
	if err := tab.Eval(ctx, `document.body.getAttribute('data-cid')`, &readyCID); err != nil {
		t.Fatal(err)
	}

	// 3. The lead form.
	if err := tab.Eval(ctx, "document.getElementById('lead').requestSubmit()", nil); err != nil {
		t.Fatal(err)
	}
	var lead url.Values
	select {
	case lead = <-site.leads:
	case <-ctx.Done():
		t.Fatal("the form never reached the site")
	}
	goal := decodeAll(t, k.consume(t, kafka.TopicRaw, 3))[2]
	if n := k.endOffset(t, kafka.TopicRaw); n != 3 {
		t.Fatalf("%d records in the raw topic, want 3", n)
	}
	if ex := b.Thrown(); len(ex) > 0 {
		t.Fatalf("the page threw: %v", ex)
	}

	wantUTM := event.UTM{Source: "yandex", Medium: "cpc", Campaign: "spring"}
	for i, e := range []event.Envelope{first, second} {
		if e.Type != event.TypePageview || e.Source != "pixel" || e.Tenant != "acme" || e.Account != "moscow" {
			t.Fatalf("hit %d: %+v", i+1, e)
		}
		if e.ClientID != cid {
			t.Fatalf("hit %d: client id %q, want the cookie's %q", i+1, e.ClientID, cid)
		}
		if e.UTM != wantUTM || e.ClickIDs["yclid"] != "123" || len(e.ClickIDs) != 1 {
			t.Fatalf("hit %d lost the landing's attribution: %+v %v", i+1, e.UTM, e.ClickIDs)
		}
		if e.Referrer != searchReferrer {
			t.Fatalf("hit %d: referrer %q, want the landing's %q", i+1, e.Referrer, searchReferrer)
		}
		if !strings.HasPrefix(e.UserAgent, "Mozilla/") {
			t.Fatalf("hit %d: user agent %q", i+1, e.UserAgent)
		}
	}
	if first.URL != landing || second.URL != origin+"/page2.html" {
		t.Fatalf("page urls %q, %q", first.URL, second.URL)
	}
	if goal.Type != event.TypeGoal || goal.Name != "form_submit" || goal.ClientID != cid {
		t.Fatalf("goal %+v", goal)
	}
	if goal.Phone != "+79161234567" || goal.Email != "ivan.petrov@example.ru" {
		t.Fatalf("goal contact %q %q", goal.Phone, goal.Email)
	}
	if goal.UTM != wantUTM || goal.ClickIDs["yclid"] != "123" {
		t.Fatalf("goal lost the visit's attribution: %+v %v", goal.UTM, goal.ClickIDs)
	}
	if hidden != cid || lead.Get("tl_client_id") != cid || readyCID != cid {
		t.Fatalf("client id %q: hidden field %q, posted %q, throughlineReady %q", cid, hidden, lead.Get("tl_client_id"), readyCID)
	}
}

// TestTrackerWithoutCookies: where the site's cookies are blocked, the client
// id and the landing's attribution are kept in localStorage instead.
func TestTrackerWithoutCookies(t *testing.T) {
	b := cdptest.Start(t)
	k := startKafka(t)
	s := newServer(t, testConfig(), k.producer(t, 1000))
	_, cport, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	site := startSite(t, "http://collector.test:"+cport, keySPb)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://www.nocookie.test:" + site.port
	if err := tab.Navigate(ctx, origin+"/page1.html?utm_source=vk&utm_medium=cpc&vkclid=v-9", ""); err != nil {
		t.Fatal(err)
	}
	k.consume(t, kafka.TopicRaw, 1)
	if err := tab.Navigate(ctx, origin+"/page2.html", ""); err != nil {
		t.Fatal(err)
	}
	hits := decodeAll(t, k.consume(t, kafka.TopicRaw, 2))
	var stored string
	if err := tab.Eval(ctx, "localStorage.getItem('_tl_cid')", &stored); err != nil {
		t.Fatal(err)
	}
	jar, err := tab.Cookies(ctx, origin+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(jar) != 0 {
		t.Fatalf("cookies set although blocked: %v", jar)
	}
	if hits[0].ClientID == "" || hits[0].ClientID != hits[1].ClientID || !strings.Contains(stored, hits[0].ClientID) {
		t.Fatalf("client ids %q, %q; localStorage %q", hits[0].ClientID, hits[1].ClientID, stored)
	}
	if hits[1].UTM.Source != "vk" || hits[1].ClickIDs["vkclid"] != "v-9" || hits[1].Account != "spb" {
		t.Fatalf("second page view: %+v", hits[1])
	}
	if ex := b.Thrown(); len(ex) > 0 {
		t.Fatalf("the page threw: %v", ex)
	}
}

// TestTrackerNumberInsertion: on a page that shows the site's phone, the
// tracker leases a pool number for its client id and puts it in place of
// the default phone (tel: link, text, data-tl-phone elements), the lease
// reaches Kafka with the page's client id, and the next page of the visit
// reuses the number without another lease.
func TestTrackerNumberInsertion(t *testing.T) {
	b := cdptest.Start(t)
	k := startKafka(t)
	s := newIntegrationsServer(t, k.producer(t, 1000))
	_, cport, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	site := startSite(t, "http://collector.test:"+cport, keyMoscow)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	page := "http://www.shop.test:" + site.port + "/contacts.html"
	if err := tab.Navigate(ctx, page+"?yclid=555", ""); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, "window.throughline && throughline.number && throughline.number()", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Number, Href, Link, Text, Marked, Other, OtherHref, Field, CID string
	}
	err = tab.Eval(ctx, `({Number: throughline.number(), CID: throughline.clientId(),
		Href: document.getElementById('tel').getAttribute('href'), Link: document.getElementById('tel').textContent,
		Text: document.getElementById('text').textContent, Marked: document.getElementById('marked').textContent,
		Other: document.getElementById('other').textContent, OtherHref: document.getElementById('other').getAttribute('href'),
		Field: document.getElementById('field').value})`, &shown)
	if err != nil {
		t.Fatal(err)
	}
	const display = "+7 (495) 111-00-01"
	if shown.Number != poolNumber1 || shown.Href != "tel:"+poolNumber1 || shown.Link != display ||
		shown.Text != "Or dial "+display+" from any phone." || shown.Marked != display {
		t.Fatalf("the page does not show the leased number: %+v", shown)
	}
	if shown.Other != "+7 (495) 765-43-21" || shown.OtherHref != "tel:+74957654321" || shown.Field != "+7 (495) 000-00-00" {
		t.Fatalf("other phones and form fields must stay as they are: %+v", shown)
	}
	evs := decodeAll(t, k.consume(t, kafka.TopicRaw, 2))
	var lease, view *event.Envelope
	for i := range evs {
		switch evs[i].Type {
		case event.TypeNumberLease:
			lease = &evs[i]
		case event.TypePageview:
			view = &evs[i]
		}
	}
	if lease == nil || view == nil || lease.ClientID != shown.CID || view.ClientID != shown.CID || lease.Lease.Number != poolNumber1 {
		t.Fatalf("want a page view and a lease of %s to client %s: %+v", poolNumber1, shown.CID, evs)
	}
	// Browsers send a cross-origin request's referrer as the origin only.
	if lease.URL != "http://www.shop.test:"+site.port+"/" {
		t.Fatalf("lease url %q, want the site's origin", lease.URL)
	}

	// The next page of the visit: the number is kept, no new lease.
	if err := tab.Navigate(ctx, page, ""); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ctx, "throughline.number() && document.getElementById('tel').textContent === '"+display+"'", 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	k.consume(t, kafka.TopicRaw, 3)
	if n := k.endOffset(t, kafka.TopicRaw); n != 3 {
		t.Fatalf("%d records, want 2 page views and 1 lease", n)
	}
	if ex := b.Thrown(); len(ex) > 0 {
		t.Fatalf("the page threw: %v", ex)
	}
}
