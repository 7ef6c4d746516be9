package collector

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/hooks/crm"
	"github.com/throughline/throughline/services/collector/internal/hooks/crm/fetch"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

const routeCRM = "/v1/hooks/crm"

// crmSources are the dead-letter and metric sources of the CRM webhooks.
var crmSources = []string{"crm:" + crm.Generic, "crm:" + crm.AmoCRM, "crm:" + crm.Bitrix24,
	"crm:" + crm.Megaplan, "crm:" + crm.Dynamics365}

// CRMConfig bounds the pulls CRM webhooks make from the CRMs' REST APIs.
type CRMConfig struct {
	// FetchTimeout is how long a Bitrix24 event waits for its entity (all
	// attempts and rate-limit waits included) before it is dead-lettered
	// with reason "fetch failed" for a later re-drive.
	FetchTimeout time.Duration
	// AmoCRMFetchTimeout is the same for amoCRM, which wants an answer
	// within seconds.
	AmoCRMFetchTimeout time.Duration
	Fetch              fetch.Config
}

// DefaultCRMConfig is the CRM webhooks' configuration unless told otherwise.
func DefaultCRMConfig() CRMConfig {
	return CRMConfig{FetchTimeout: 15 * time.Second, AmoCRMFetchTimeout: 1500 * time.Millisecond, Fetch: fetch.DefaultConfig()}
}

func (c *CRMConfig) registerFlags(fs *flag.FlagSet) {
	d := DefaultCRMConfig()
	flagenv.Duration(fs, &c.FetchTimeout, "collector-crm-fetch-timeout", d.FetchTimeout,
		"how long a Bitrix24 event waits for its entity from the portal before it is dead-lettered for re-drive")
	flagenv.Duration(fs, &c.AmoCRMFetchTimeout, "collector-amocrm-fetch-timeout", d.AmoCRMFetchTimeout,
		"the same for amoCRM leads sent with ids only (amoCRM wants an answer within seconds)")
	flagenv.Int(fs, &c.Fetch.MaxAttempts, "collector-crm-fetch-attempts", d.Fetch.MaxAttempts,
		"attempts to fetch one CRM entity (rate limits, 5xx and network errors are retried)")
	flagenv.Int(fs, &c.Fetch.MaxInstances, "collector-crm-max-instances", d.Fetch.MaxInstances,
		"CRM instances whose rate limiters are kept (least recently used are dropped)")
	c.Fetch.AttemptTimeout, c.Fetch.BackoffBase, c.Fetch.BackoffMax, c.Fetch.MaxBodyBytes =
		d.Fetch.AttemptTimeout, d.Fetch.BackoffBase, d.Fetch.BackoffMax, d.Fetch.MaxBodyBytes
}

func (c CRMConfig) validate() error {
	switch {
	case c.FetchTimeout <= 0:
		return errors.New("collector-crm-fetch-timeout: must be positive")
	case c.AmoCRMFetchTimeout <= 0:
		return errors.New("collector-amocrm-fetch-timeout: must be positive")
	case c.Fetch.MaxAttempts < 1:
		return errors.New("collector-crm-fetch-attempts: must be at least 1")
	case c.Fetch.MaxInstances < 1:
		return errors.New("collector-crm-max-instances: must be at least 1")
	}
	return nil
}

// crmReply is the body of a CRM webhook's 200.
type crmReply struct {
	Accepted     int    `json:"accepted"`
	Ignored      int    `json:"ignored,omitempty"`
	DeadLettered bool   `json:"dead_lettered,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// serveCRM handles POST /v1/hooks/crm/{provider}?k=<write key>.
func (c *Collector) serveCRM(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	switch provider {
	case crm.Generic, crm.AmoCRM, crm.Bitrix24, crm.Megaplan, crm.Dynamics365:
	default:
		c.m.Reject("crm:unknown", intake.ReasonInvalid, "provider")
		intake.WriteError(w, http.StatusNotFound, "unknown CRM provider: use generic, amocrm, bitrix24, megaplan or dynamics", "provider", "unknown")
		return
	}
	q, release, ok := c.in.Server(w, r, "crm:"+provider, "crm webhook")
	if !ok {
		return
	}
	defer release()
	h := crmRequest{Request: q, c: c, body: q.Payload}
	h.tenant, h.account = c.findAccount(q.P)
	switch provider {
	case crm.Generic:
		h.generic()
	case crm.AmoCRM:
		h.amoCRM()
	case crm.Bitrix24:
		h.bitrix24()
	case crm.Megaplan:
		h.tokenChecked(crm.Megaplan, r, crm.ParseMegaplan)
	case crm.Dynamics365:
		h.tokenChecked(crm.Dynamics365, r, crm.ParseDynamics)
	}
}

// tokenChecked handles the CRMs that sign nothing (Megaplan, Dynamics 365):
// the provider must be the account's CRM, and its app_token, when set, must
// arrive as ?code= (Dynamics' WebhookKey authentication) or ?token=. A bad
// body is answered 400 naming the field; other entities are answered 200
// and counted as ignored.
func (h *crmRequest) tokenChecked(provider string, r *http.Request, parse func([]byte, crm.Settings) ([]crm.Change, error)) {
	cfg := h.integration(provider)
	if cfg == nil {
		h.Refuse(http.StatusForbidden, &event.FieldError{Field: "provider", Reason: fmt.Sprintf(
			"%s is not the CRM of account %s: set crm.provider in the tenants file", provider, h.P.Account)}, "")
		return
	}
	if cfg.AppToken != "" && !h.Redriven {
		q := r.URL.Query()
		got := q.Get("code")
		if got == "" {
			got = q.Get("token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(cfg.AppToken)) != 1 {
			h.c.m.Reject(h.Source, intake.ReasonInvalid, "token")
			h.DeadLetter(intake.ReasonPrefixUnauthenticated + "token: missing or wrong")
			intake.WriteError(h.W, http.StatusForbidden, "token: missing or wrong: put ?code=<crm.app_token> in the webhook URL", "token", "missing or wrong")
			return
		}
	}
	changes, err := parse(h.body, h.settings(provider))
	if err != nil {
		h.Refuse(http.StatusBadRequest, crm.AsFieldError("body", err), "")
		return
	}
	ignored := 0
	if len(changes) == 0 {
		ignored = 1
	}
	h.publish(changes, ignored, "")
}

// findAccount returns the principal's tenant and account configuration;
// either is nil when the collector runs without the tenants config.
func (c *Collector) findAccount(p tenants.Principal) (*tenants.Tenant, *tenants.Account) {
	if c.deps.Tenants == nil {
		return nil, nil
	}
	return c.deps.Tenants.Find(p.Tenant, p.Account)
}

// crmRequest is one CRM webhook being handled. Its Payload, what a dead
// letter keeps, is the body (redacted, for Bitrix24).
type crmRequest struct {
	*intake.Request
	c       *Collector
	body    []byte
	tenant  *tenants.Tenant
	account *tenants.Account
}

// integration is the account's CRM if it is of provider, else nil.
func (h *crmRequest) integration(provider string) *tenants.CRM {
	if h.account == nil || h.account.CRM == nil || h.account.CRM.Provider != provider {
		return nil
	}
	return h.account.CRM
}

func (h *crmRequest) settings(provider string) crm.Settings {
	cur := ""
	if h.tenant != nil {
		cur = h.tenant.Currency
	}
	return crm.SettingsFor(cur, h.tenant.Region(h.account), h.integration(provider))
}

// unauthenticated answers 403 and dead-letters the body as a delivery
// that failed authentication (never re-driven).
func (h *crmRequest) unauthenticated(fe *event.FieldError) {
	h.c.m.Reject(h.Source, intake.ReasonUnknownKey, fe.Field)
	h.DeadLetter(intake.ReasonPrefixUnauthenticated + fe.Error())
	intake.WriteError(h.W, http.StatusForbidden, fe.Error(), fe.Field, "unauthenticated")
}

// publish writes the changes and answers 200, dead-lettering the payload
// with dlReason first when it is set (a part of the delivery was not
// accepted).
func (h *crmRequest) publish(changes []crm.Change, ignored int, dlReason string) {
	if dlReason != "" {
		metricReason := intake.ReasonInvalid
		if strings.HasPrefix(dlReason, intake.ReasonPrefixFetchFailed) {
			metricReason = intake.ReasonFetchFailed
		}
		h.c.m.Reject(h.Source, metricReason, "")
		h.c.warn.Warn().Str("tenant", h.P.Tenant).Str("account", h.P.Account).Str("source", h.Source).
			Str("reason", h.c.clean(h.P, dlReason)).Msg("crm webhook dead-lettered")
		h.DeadLetter(dlReason)
	}
	reply := crmReply{Ignored: ignored, DeadLettered: dlReason != "", Reason: dlReason}
	envs := make([]event.Envelope, len(changes))
	for i, ch := range changes {
		if ch.UnitsNote != "" {
			// The change is good without its units; say why they are missing.
			h.c.warn.Warn().Str("tenant", h.P.Tenant).Str("account", h.P.Account).Str("source", h.Source).
				Str("reason", h.c.clean(h.P, truncateReason(ch.UnitsNote))).Msg("crm change published without units")
		}
		envs[i] = crm.Envelope(h.P, ch, h.Now)
	}
	if len(envs) > 0 && !h.Publish(envs, "crm changes", "changes not acknowledged by kafka, retry later") {
		return
	}
	reply.Accepted = len(envs)
	intake.WriteJSON(h.W, http.StatusOK, reply)
}

// generic: all or nothing, 400 naming the field (the sender is ours to fix).
func (h *crmRequest) generic() {
	changes, err := crm.ParseGeneric(h.body, h.settings(crm.Generic))
	if err != nil {
		h.Refuse(http.StatusBadRequest, crm.AsFieldError("body", err), "")
		return
	}
	h.publish(changes, 0, "")
}

// amoCRM retries a delivery that was not answered 2xx and eventually turns
// the webhook off, so everything it sends is answered 200: what cannot be
// accepted is dead-lettered with the reason, the rest is published.
func (h *crmRequest) amoCRM() {
	s := h.settings(crm.AmoCRM)
	req, err := crm.ParseAmoCRM(h.body, s)
	if err != nil {
		h.publish(nil, 0, crm.AsFieldError("body", err).Error())
		return
	}
	// amoCRM does not sign its webhooks; what it does send every time is
	// the account's subdomain, so it is required and must be this account's.
	cfg := h.integration(crm.AmoCRM)
	switch {
	case cfg == nil:
		h.unauthenticated(&event.FieldError{Field: "crm", Reason: "this account has no amocrm integration (crm: provider amocrm, subdomain)"})
		return
	case req.Subdomain == "":
		h.unauthenticated(&event.FieldError{Field: "account[subdomain]", Reason: "required: amoCRM names its account in every webhook"})
		return
	case !strings.EqualFold(cfg.AmoSubdomain(), req.Subdomain):
		h.publish(nil, 0, intake.ReasonPrefixUnauthenticated+"account[subdomain]: "+truncateReason(req.Subdomain)+
			" is not this account's amoCRM ("+cfg.AmoSubdomain()+")")
		return
	}
	var api crm.AmoCRMAPI
	if cfg != nil && cfg.BaseURL != "" {
		api = h.c.crmPool.AmoCRM(cfg.BaseURL, cfg.AppToken, cfg.RequestsPerSecond)
	}
	fctx, cancel := context.WithTimeout(h.Ctx, h.c.cfg.CRM.AmoCRMFetchTimeout)
	changes, fetchErrs := crm.ResolveAmoCRM(fctx, req, api, s, h.body)
	cancel()
	var reasons []string
	for _, e := range req.Errors {
		reasons = append(reasons, e.Error())
	}
	reason := strings.Join(reasons, "; ")
	if len(fetchErrs) > 0 {
		// The pull is retried by re-driving: the whole delivery is re-read
		// and what was published now gets the same ids again.
		msgs := make([]string, len(fetchErrs))
		for i, e := range fetchErrs {
			msgs[i] = e.Error()
		}
		reason = joinReasons(intake.ReasonPrefixFetchFailed+strings.Join(msgs, "; "), reason)
	}
	h.publish(changes, req.Ignored, truncateReason(reason))
}

// bitrix24 events carry only an id: the entity is pulled from the portal.
// Bitrix24 never retries, so an event whose pull fails is accepted (200) and
// dead-lettered with reason "fetch failed" for the re-drive command.
func (h *crmRequest) bitrix24() {
	payload := crm.RedactBitrix24(h.body)
	h.Payload = payload // what its dead letters keep: the token redacted
	ev, err := crm.ParseBitrix24(h.body)
	if err != nil {
		h.Refuse(http.StatusBadRequest, crm.AsFieldError("body", err), "")
		return
	}
	cfg := h.integration(crm.Bitrix24)
	if cfg == nil {
		h.Refuse(http.StatusForbidden, &event.FieldError{Field: "crm",
			Reason: "this account has no bitrix24 integration (crm: provider bitrix24, base_url, app_token)"}, "")
		return
	}
	// A re-driven event was authenticated when it arrived, or is re-driven
	// because it failed only on configuration; its token was redacted.
	if !h.Redriven && !ev.TokenMatches(cfg.AppToken) {
		h.c.m.Reject(h.Source, intake.ReasonUnknownKey, "auth")
		reason := intake.ReasonPrefixUnauthenticated + "auth[application_token]: does not match this account's bitrix24 application token"
		h.DeadLetter(reason)
		intake.WriteError(h.W, http.StatusUnauthorized, "auth[application_token] does not match", "auth[application_token]", "mismatch")
		return
	}
	if ev.Entity == "" {
		h.publish(nil, 1, "") // an event Throughline does not map (companies, invoices, …)
		return
	}
	api := h.c.crmPool.Bitrix24(cfg.BaseURL, cfg.RequestsPerSecond)
	fctx, cancel := context.WithTimeout(h.Ctx, h.c.cfg.CRM.FetchTimeout)
	ch, err := crm.ResolveBitrix24(fctx, ev, api, h.settings(crm.Bitrix24))
	cancel()
	switch {
	case err == nil:
		if ch.UpdatedAt == 0 {
			ch.Seed = crm.PayloadSeed(payload)
		}
		h.publish([]crm.Change{ch}, 0, "")
	case errors.Is(err, crm.ErrNotFound):
		h.publish(nil, 0, "not found: "+truncateReason(err.Error())+" (deleted before it was fetched?)")
	default:
		var fe *event.FieldError
		if errors.As(err, &fe) {
			h.publish(nil, 0, fe.Error())
			return
		}
		h.publish(nil, 0, intake.ReasonPrefixFetchFailed+truncateReason(err.Error()))
	}
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// truncateReason keeps reasons readable in a table cell.
func truncateReason(s string) string {
	const max = 1000
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
