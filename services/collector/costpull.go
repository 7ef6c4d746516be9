package collector

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/throughline/throughline/pkg/event"
	"github.com/throughline/throughline/pkg/flagenv"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/services/collector/internal/costpull"
	"github.com/throughline/throughline/services/collector/internal/intake"
)

// CostPullConfig is the daily pull of ad spend from the platforms' APIs
// (the cost_connectors of the tenants file, docs/costs.md).
type CostPullConfig struct {
	// Enabled runs the connectors in this process (with Elect, when it
	// leads the group).
	Enabled bool
	// Elect runs the pulls only on the leader of the Kafka group
	// CostPullGroup, so that of several collectors exactly one pulls.
	Elect  bool
	After  time.Duration // after midnight in the account's zone
	Spread time.Duration // connectors spread their start over this
	// RetryMax caps the backoff between failed attempts.
	RetryMax time.Duration
	Timeout  time.Duration // one attempt, offline report polling included
}

// DefaultCostPullConfig is the pulls' configuration unless told otherwise.
func DefaultCostPullConfig() CostPullConfig {
	d := costpull.DefaultConfig()
	return CostPullConfig{Enabled: true, Elect: true, After: d.After, Spread: d.Spread, RetryMax: d.RetryMax, Timeout: d.Timeout}
}

func (c *CostPullConfig) registerFlags(fs *flag.FlagSet) {
	d := DefaultCostPullConfig()
	flagenv.Bool(fs, &c.Enabled, "collector-cost-pull", d.Enabled,
		"pull ad spend of the tenants file's cost_connectors daily")
	flagenv.Bool(fs, &c.Elect, "collector-cost-pull-elect", d.Elect,
		"pull only while leading the Kafka group "+CostPullGroup+" (one puller among several collectors)")
	flagenv.Duration(fs, &c.After, "collector-cost-pull-after", d.After, "how long after midnight (account's zone) the daily cost pull starts")
	flagenv.Duration(fs, &c.Spread, "collector-cost-pull-spread", d.Spread, "cost connectors spread their daily start over this window")
	flagenv.Duration(fs, &c.RetryMax, "collector-cost-pull-retry-max", d.RetryMax, "longest wait between failed cost pulls")
	flagenv.Duration(fs, &c.Timeout, "collector-cost-pull-timeout", d.Timeout, "bound of one cost pull attempt")
}

func (c CostPullConfig) validate() error {
	switch {
	case c.After < 0 || c.After >= 24*time.Hour:
		return errors.New("collector-cost-pull-after: must be within the day (0 to 24h)")
	case c.Spread < 0 || c.After+c.Spread >= 24*time.Hour:
		return errors.New("collector-cost-pull-spread: after + spread must be within the day")
	case c.RetryMax < time.Second:
		return errors.New("collector-cost-pull-retry-max: must be at least 1s")
	case c.Timeout < time.Second:
		return errors.New("collector-cost-pull-timeout: must be at least 1s")
	}
	return nil
}

// newCostPuller builds the puller of the tenants file's cost connectors, or
// nil when pulling is off or there are none.
func (c *Collector) newCostPuller() (*costpull.Puller, error) {
	if !c.cfg.CostPull.Enabled {
		return nil, nil
	}
	h := &costpull.HTTP{Client: &http.Client{Timeout: c.cfg.CostPull.Timeout}, MaxBytes: int64(c.cfg.Costs.MaxBodyBytes) * 4}
	jobs, err := costpull.Jobs(c.deps.Tenants, h)
	if err != nil || len(jobs) == 0 {
		return nil, err
	}
	d := costpull.DefaultConfig()
	cfg := costpull.Config{After: c.cfg.CostPull.After, Spread: c.cfg.CostPull.Spread, RetryBase: min(d.RetryBase, c.cfg.CostPull.RetryMax),
		RetryMax: c.cfg.CostPull.RetryMax, Timeout: c.cfg.CostPull.Timeout, MaxRows: c.cfg.Costs.MaxRows}
	return costpull.New(cfg, jobs, c.publishPulledCosts, c.log, c.deps.Tel.Meter)
}

// publishPulledCosts writes a pull's rows, then its commits, to the costs
// topic in batches, each acknowledged by Kafka before the next: the same
// path as an upload's (costUpload.publish).
func (c *Collector) publishPulledCosts(ctx context.Context, rows, commits []event.Envelope) error {
	for _, envs := range [][]event.Envelope{rows, commits} {
		for start := 0; start < len(envs); start += c.cfg.MaxBatchEvents {
			batch := envs[start:min(start+c.cfg.MaxBatchEvents, len(envs))]
			recs, err := c.envelopeRecords(batch)
			if err != nil {
				return err
			}
			for _, r := range recs {
				r.Topic = kafka.TopicCosts
			}
			if err := c.pub.Publish(ctx, recs); err != nil {
				return fmt.Errorf("publishing to %s: %w", kafka.TopicCosts, err)
			}
			if len(batch) > 0 && !batch[0].Cost.Commit {
				c.m.Accept(batch[0].Source, len(batch))
			}
		}
	}
	return nil
}

// CostConnectorsView is what the dashboard shows of a tenant's cost
// connectors (GET /v1/dashboard/costs/connectors, docs/costs.md).
type CostConnectorsView struct {
	Tenant string `json:"tenant"`
	// State: pulling (this collector runs the pulls), standby (another
	// collector of the group leads them), off (pulls disabled here, or the
	// tenant has no connector).
	State      string                `json:"state"`
	Connectors []CostConnectorStatus `json:"connectors"`
}

// CostConnectorStatus is one connector's last pull, last error and next
// run; times are Unix milliseconds, 0 for never (or none planned).
type CostConnectorStatus struct {
	Account     string `json:"account"` // "" for the tenant's central connectors
	Connector   string `json:"connector"`
	Provider    string `json:"provider"`
	Channel     string `json:"channel"`
	LastSuccess int64  `json:"last_success"`
	From        string `json:"from,omitempty"` // the days the last success restated
	To          string `json:"to,omitempty"`
	Rows        int    `json:"rows"`
	LastError   string `json:"last_error,omitempty"`
	LastErrorAt int64  `json:"last_error_at,omitempty"`
	NextRun     int64  `json:"next_run"`
}

// CostConnectors is the status of tenant's connectors (of one account and
// the tenant's central ones when account is not ""), as this collector
// knows it.
func (c *Collector) CostConnectors(tenant, account string) CostConnectorsView {
	v := CostConnectorsView{Tenant: tenant, State: "off", Connectors: []CostConnectorStatus{}}
	if c.costs == nil {
		return v
	}
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	for _, s := range c.costs.Statuses(tenant) {
		if account != "" && s.Account != account && s.Account != "" { // central connectors concern every branch
			continue
		}
		v.Connectors = append(v.Connectors, CostConnectorStatus{Account: s.Account, Connector: s.Connector, Provider: s.Provider,
			Channel: s.Channel, LastSuccess: ms(s.LastSuccess), From: s.From, To: s.To, Rows: s.Rows,
			LastError: s.LastError, LastErrorAt: ms(s.LastErrorAt), NextRun: ms(s.NextRun)})
	}
	switch {
	case len(v.Connectors) == 0:
	case !c.cfg.CostPull.Elect || c.costLeading.Load():
		v.State = "pulling"
	default:
		v.State = "standby"
	}
	return v
}

// CostConnectorsHandler serves GET ?tenant=[&account=] with the
// CostConnectorsView, for the console to mount behind its own tenant check
// (the all-in-one hands it over in process; the collector's public address
// does not serve it).
func (c *Collector) CostConnectorsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("tenant") == "" {
			intake.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "tenant: required"})
			return
		}
		intake.WriteJSON(w, http.StatusOK, c.CostConnectors(q.Get("tenant"), q.Get("account")))
	})
}
