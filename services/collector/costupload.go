package collector

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector/internal/costs"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

const routeCosts = "/v1/costs"

// costSources are the metrics and dead-letter sources of cost uploads.
var costSources = func() []string {
	out := []string{"costs:unknown"}
	for _, f := range costs.Formats {
		out = append(out, "costs:"+f)
	}
	return out
}()

func costsSource(format string) string {
	if format == "" {
		format = "generic"
	}
	for _, f := range costs.Formats {
		if f == format {
			return "costs:" + f
		}
	}
	return "costs:unknown"
}

// CostsConfig bounds cost uploads, which are larger than event batches.
type CostsConfig struct {
	MaxBodyBytes int // larger uploads get 413 (at most half of MaxInFlightBytes is used)
	MaxRows      int // rows of one upload, restated zero rows included
}

// DefaultCostsConfig is the cost uploads' configuration unless told otherwise.
func DefaultCostsConfig() CostsConfig {
	return CostsConfig{MaxBodyBytes: 16 << 20, MaxRows: 200_000}
}

func (c *CostsConfig) registerFlags(fs *flag.FlagSet) {
	d := DefaultCostsConfig()
	flagenv.Int(fs, &c.MaxBodyBytes, "collector-costs-max-body-bytes", d.MaxBodyBytes, "largest accepted /v1/costs upload (413 above)")
	flagenv.Int(fs, &c.MaxRows, "collector-costs-max-rows", d.MaxRows, "most cost rows in one /v1/costs upload")
}

func (c CostsConfig) validate() error {
	switch {
	case c.MaxBodyBytes < 1024:
		return errors.New("collector-costs-max-body-bytes: must be at least 1024")
	case c.MaxRows < 1:
		return errors.New("collector-costs-max-rows: must be at least 1")
	}
	return nil
}

// costsReply is the body of a cost upload's 200.
type costsReply struct {
	ImportID string   `json:"import_id"`
	Rows     int      `json:"rows"`     // cost rows written, restated zero rows included
	Accounts []string `json:"accounts"` // accounts the import restates ("*": central)
}

// costUpload is one cost upload being handled.
type costUpload struct {
	*intake.Request
	c *Collector
}

// serveCosts handles POST /v1/costs: an ad-spend report, authenticated by a
// tenant key (central uploads, any of the tenant's accounts) or an account
// write key (that account only). Every row becomes a cost envelope on the
// costs topic, then every account written to gets a commit record; the
// import counts only once its commits are in, and then restates the days
// and channels it covers (docs/costs.md). 200 means all of it is in Kafka.
func (c *Collector) serveCosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	q.Del("k")
	format := q.Get("format")
	if format == "" {
		format = "generic"
	}
	source := costsSource(format)
	key := intake.Key(r)
	var p tenants.Principal
	if t, ok := c.deps.Keys.LookupTenant(key); ok {
		p.Tenant = t
	} else if ap, ok := c.deps.Keys.Lookup(key); ok {
		if !c.in.RequireServerKey(w, ap, source) {
			return
		}
		p = ap
	} else {
		reason := intake.ReasonUnknownKey
		if key == "" {
			reason = intake.ReasonMissingKey
		}
		c.m.Reject(source, reason, "")
		w.Header().Set("WWW-Authenticate", `Bearer realm="throughline"`)
		intake.WriteError(w, http.StatusUnauthorized, "a tenant key or an account write key is required: Authorization: Bearer <key>", "k", "required")
		return
	}
	body, release, ok := c.readCostBody(w, r, source)
	if !ok {
		return
	}
	defer release()
	u := costUpload{Request: c.in.Begin(w, r, p, source, "cost upload"), c: c}
	u.Payload, u.Params = body, q.Encode()
	now := u.Now
	tenant, _ := c.findAccount(tenants.Principal{Tenant: p.Tenant})
	currency, loc := "RUB", time.UTC
	if tenant != nil {
		if tenant.Currency != "" {
			currency = strings.ToUpper(tenant.Currency)
		}
		loc = accountLocation(tenant, nil)
	}
	if source == "costs:unknown" {
		u.Refuse(http.StatusBadRequest, &event.FieldError{Field: "format", Reason: fmt.Sprintf(
			"%q is not one of %s", clipParam(format), strings.Join(costs.Formats, ", "))}, "")
		return
	}
	if cur := q.Get("currency"); cur != "" && !strings.EqualFold(cur, currency) {
		u.Refuse(http.StatusBadRequest, &event.FieldError{Field: "currency", Reason: fmt.Sprintf(
			"%s: the tenant's costs are in %s; convert the amounts before uploading (they are never converted)", clipParam(cur), currency)}, "")
		return
	}
	target := q.Get("account")
	if fe := u.checkAccount(target, tenant); fe != nil {
		u.Refuse(http.StatusForbidden, fe, "")
		return
	}
	if target == "" {
		target = p.Account // a tenant key without ?account= uploads centrally
	}
	plain := false
	switch m := q.Get("money"); m {
	case "", "micros":
	case "plain":
		plain = true
	default:
		u.Refuse(http.StatusBadRequest, &event.FieldError{Field: "money", Reason: fmt.Sprintf("%q is not micros or plain", clipParam(m))}, "")
		return
	}
	channel := q.Get("channel")
	if channel == "" {
		channel = costs.DefaultChannel(format)
	}
	if len(channel) > event.MaxShort {
		u.Refuse(http.StatusBadRequest, &event.FieldError{Field: "channel", Reason: "too long"}, "")
		return
	}
	importID := q.Get("import_id")
	switch {
	case importID == "":
		importID = costs.DefaultImportID(p.Tenant, p.Account, canonicalParams(q), body)
	case !costs.ValidImportID(importID):
		u.Refuse(http.StatusBadRequest, &event.FieldError{Field: "import_id", Reason: "1-64 of A-Z, a-z, 0-9 and . _ : -"}, "")
		return
	}
	rows, err := costs.Parse(body, costs.Options{Format: format, ContentType: r.Header.Get("Content-Type"),
		Currency: currency, PlainMoney: plain, MaxRows: c.cfg.Costs.MaxRows})
	if err != nil {
		u.Refuse(http.StatusBadRequest, intake.AsFieldError("body", err), "")
		return
	}
	for i, row := range rows {
		if row.Account == "" {
			continue
		}
		if fe := u.checkAccount(row.Account, tenant); fe != nil {
			fe.Field = fmt.Sprintf("rows[%d].account", i)
			u.Refuse(http.StatusForbidden, fe, "")
			return
		}
	}
	envs, commits, err := costs.Envelopes(rows, costs.Import{ID: importID, Tenant: p.Tenant, Account: target,
		Channel: channel, Currency: currency, Format: format, Location: loc, ReceivedAt: now,
		From: q.Get("from"), To: q.Get("to")})
	if err == nil && len(envs) > c.cfg.Costs.MaxRows {
		err = &event.FieldError{Field: "rows", Reason: fmt.Sprintf("%d rows with the restated days: more than %d in one upload", len(envs), c.cfg.Costs.MaxRows)}
	}
	for i := 0; err == nil && i < len(envs); i++ {
		if verr := envs[i].Validate(); verr != nil {
			err = event.Field(fmt.Sprintf("rows[%d]", i), verr)
		}
	}
	if err != nil {
		u.Refuse(http.StatusBadRequest, intake.AsFieldError("body", err), "")
		return
	}
	release() // parsed: from here the records hold the budget
	if !u.publish(envs) || !u.publish(commits) {
		return
	}
	accounts := make([]string, 0, len(commits))
	for _, cm := range commits {
		accounts = append(accounts, cm.Account)
	}
	sort.Strings(accounts)
	c.m.Accept(source, len(envs))
	c.log.Info().Str("tenant", p.Tenant).Str("account", p.Account).Str("source", source).Str("import_id", importID).
		Int("rows", len(envs)).Msg("costs imported")
	intake.WriteJSON(w, http.StatusOK, costsReply{ImportID: importID, Rows: len(envs), Accounts: accounts})
}

// checkAccount refuses an account the key may not write for: another
// account than an account key's own, or one the tenant does not have.
func (u costUpload) checkAccount(account string, tenant *tenants.Tenant) *event.FieldError {
	switch {
	case account == "":
		return nil
	case u.P.Account != "" && account != u.P.Account:
		return &event.FieldError{Field: "account", Reason: fmt.Sprintf(
			"this key writes for account %q only; central uploads for other accounts need a tenant key", u.P.Account)}
	case u.P.Account == "" && !hasAccount(tenant, account):
		return &event.FieldError{Field: "account", Reason: fmt.Sprintf("%q is not an account of tenant %q", clipParam(account), u.P.Tenant)}
	}
	return nil
}

func hasAccount(t *tenants.Tenant, id string) bool {
	if t == nil {
		return false
	}
	for _, a := range t.Accounts {
		if a.ID == id {
			return true
		}
	}
	return false
}

// publish writes envelopes to the costs topic in batches of at most
// MaxBatchEvents, each waiting for Kafka; it answers 503 itself on failure.
// A failed upload is retried by sending it again: the same content gets the
// same import id, and its rows replace whatever of it got through.
func (u costUpload) publish(envs []event.Envelope) bool {
	c := u.c
	for start := 0; start < len(envs); start += c.cfg.MaxBatchEvents {
		recs, ok := u.Records(envs[start:min(start+c.cfg.MaxBatchEvents, len(envs))], "cost rows")
		if !ok {
			return false
		}
		for _, r := range recs {
			r.Topic = kafka.TopicCosts
		}
		if err := u.Send(recs, "cost rows"); err != nil {
			c.in.Unavailable(u.W, "costs not acknowledged by kafka: send the same upload again (it replaces what got through)")
			return false
		}
	}
	return true
}

// readCostBody reads an upload within Costs.MaxBodyBytes — and within a
// key's share of the in-flight budget, so one upload always fits its share
// and never starves everything else (readBody) — and answers refusals itself.
func (c *Collector) readCostBody(w http.ResponseWriter, r *http.Request, source string) ([]byte, func(), bool) {
	return c.in.ReadBody(w, r, source, min(int64(c.cfg.Costs.MaxBodyBytes), c.pub.Shares().Key))
}

// canonicalParams are the parameters that change what an upload means, in a
// fixed order, for the default import id.
func canonicalParams(q url.Values) string {
	keep := url.Values{}
	for _, k := range []string{"format", "account", "channel", "money", "from", "to"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	return keep.Encode()
}

func clipParam(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
