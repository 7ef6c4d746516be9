package demo

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/throughline/throughline/pkg/tenants"
)

// CRMServer is the REST API of the demo network's simulated CRMs, on
// loopback: each Bitrix24 branch's portal (crm.lead.get, crm.contact.get,
// crm.deal.get through its incoming-webhook URL) and each amoCRM branch's
// account (GET /api/v4/leads/{id}). It answers from the demo's own CRM
// state — what the last change sent for an entity left — so the collector's
// pulls read what a real CRM would. Base URLs look like
// <URL>/demo-crm/bitrix24/<account>/rest/1/<secret>/ and
// <URL>/demo-crm/amocrm/<account>.
type CRMServer struct {
	ln    net.Listener
	srv   *http.Server
	done  chan struct{}
	store *crmStore

	mu    sync.Mutex
	creds map[string]string // "<provider>/<account>" → the webhook path secret or the amoCRM token

	served, refused atomic.Int64
}

// ListenCRM starts the simulated CRMs on addr (host:port; port 0 picks a
// free one). They answer "not found" until the demo runs.
func ListenCRM(addr string) (*CRMServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo-crm-addr: listening on %s: %w", addr, err)
	}
	s := &CRMServer{ln: ln, done: make(chan struct{}), store: newCRMStore(), creds: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+crmPathPrefix+"bitrix24/{account}/rest/{user}/{secret}/{method}", s.bitrix24)
	mux.HandleFunc("POST "+crmPathPrefix+"bitrix24/{account}/rest/{user}/{secret}/{method}", s.bitrix24)
	mux.HandleFunc("GET "+crmPathPrefix+"amocrm/{account}/api/v4/leads/{id}", s.amoCRM)
	mux.HandleFunc("POST "+directPathPrefix+"{account}/json/v5/reports", s.direct)
	ensureDirectToken()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the servers' base URL, e.g. http://127.0.0.1:18095.
func (s *CRMServer) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops serving.
func (s *CRMServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// Pulls are the requests answered with an entity, and those refused (bad
// credentials, the blocked portal).
func (s *CRMServer) Pulls() (served, refused int64) { return s.served.Load(), s.refused.Load() }

// configure learns the credentials of the simulated CRMs in tc that point
// at this server, and blocks the story's blocked portal for its first pulls.
// It returns how many CRMs of tc point elsewhere than URL.
func (s *CRMServer) configure(tc *tenants.Config) (elsewhere int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range tc.Tenants {
		for _, a := range t.Accounts {
			if a.CRM == nil || a.CRM.BaseURL == "" {
				continue
			}
			u, err := url.Parse(a.CRM.BaseURL)
			if err != nil || !strings.HasPrefix(u.Path, crmPathPrefix) {
				continue
			}
			if "http://"+u.Host != s.URL() {
				elsewhere++
				continue
			}
			switch a.CRM.Provider {
			case crmBitrix24:
				// .../bitrix24/<account>/rest/<user>/<secret>/
				parts := strings.Split(strings.Trim(strings.TrimPrefix(u.Path, crmPathPrefix), "/"), "/")
				if len(parts) == 5 && parts[1] == a.ID {
					s.creds[crmBitrix24+"/"+a.ID] = parts[3] + "/" + parts[4]
				}
				if a.ID == blockedBranch {
					s.store.block(a.ID, blockedPulls)
				}
			case crmAmoCRM:
				s.creds[crmAmoCRM+"/"+a.ID] = a.CRM.AppToken
			}
		}
	}
	s.configureDirect(tc)
	return elsewhere
}

func (s *CRMServer) credential(provider, account string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds[provider+"/"+account]
}

// bitrix24 answers crm.{lead,contact,deal}.get?id= as a portal's REST API.
func (s *CRMServer) bitrix24(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	account := r.PathValue("account")
	want := s.credential(crmBitrix24, account)
	if want == "" || !equal(r.PathValue("user")+"/"+r.PathValue("secret"), want) {
		s.refused.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"INVALID_CREDENTIALS","error_description":"Invalid request credentials"}`)
		return
	}
	if s.store.blocked(account) {
		s.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"OVERLOAD_LIMIT","error_description":"REST API is blocked due to overload."}`)
		return
	}
	kind, ok := strings.CutPrefix(r.PathValue("method"), "crm.")
	kind, ok2 := strings.CutSuffix(kind, ".get")
	if !ok || !ok2 || (kind != "lead" && kind != "deal" && kind != "contact") {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"ERROR_METHOD_NOT_FOUND","error_description":"Method not found!"}`)
		return
	}
	r.ParseForm()
	obj := s.store.get(account, "bitrix24/"+kind, r.Form.Get("id"))
	if obj == nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"","error_description":"Not found"}`)
		return
	}
	s.served.Add(1)
	now := time.Now()
	fmt.Fprintf(w, `{"result":%s,"time":{"start":%.4f,"finish":%.4f,"duration":0.001,"processing":0.0005,"date_start":%q,"date_finish":%q,"operating":0}}`,
		obj, float64(now.UnixMicro())/1e6, float64(now.UnixMicro())/1e6, b24Time(now), b24Time(now))
}

// amoCRM answers GET /api/v4/leads/{id} as an amoCRM account's API v4.
func (s *CRMServer) amoCRM(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	want := s.credential(crmAmoCRM, account)
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if want == "" || !equal(got, want) {
		s.refused.Add(1)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"title":"Unauthorized","type":"https://httpstatus.es/401","status":401,"detail":"Неверный токен"}`)
		return
	}
	obj := s.store.get(account, "amocrm/lead", r.PathValue("id"))
	if obj == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.served.Add(1)
	w.Header().Set("Content-Type", "application/hal+json")
	w.Write(obj)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// crmStore is the simulated CRMs' state: each entity as its last change
// left it, by account, kind ("bitrix24/deal", "amocrm/lead") and id.
type crmStore struct {
	mu       sync.Mutex
	entities map[string][]byte
	blocks   map[string]int // account → pulls still refused

	pulled map[string]bool      // accounts whose Direct spend is pulled (directserver.go)
	spend  map[string][]costRow // "<account>/<date>" → that day's Direct spend
	ready  bool                 // the history's spend is known
}

func newCRMStore() *crmStore {
	return &crmStore{entities: map[string][]byte{}, blocks: map[string]int{}}
}

func (s *crmStore) put(account, kind, id string, state []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities[account+"/"+kind+"/"+id] = state
}

func (s *crmStore) get(account, kind, id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entities[account+"/"+kind+"/"+id]
}

func (s *crmStore) block(account string, pulls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks[account] = pulls
}

// blocked reports whether the account's portal refuses this pull, and
// counts it down.
func (s *crmStore) blocked(account string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocks[account] <= 0 {
		return false
	}
	s.blocks[account]--
	return true
}
