package analytics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// MaxFlowRange is the longest lead-flow window.
const MaxFlowRange = 31 * 24 * time.Hour

// FlowQuery selects the lead flow: leads per hour by channel in [From, To).
type FlowQuery struct {
	Tenant, Account string
	From, To        time.Time
}

// Validate names the parameter that is wrong.
func (q FlowQuery) Validate() error {
	return validateWindow(q.Tenant, q.From, q.To, MaxFlowRange, MaxFlowRange.String())
}

// validateWindow names what is wrong with a query of a tenant's [from, to)
// that may span at most max (maxText says it in the error).
func validateWindow(tenant string, from, to time.Time, max time.Duration, maxText string) error {
	var errs []error
	if tenant == "" {
		errs = append(errs, errors.New("tenant: required"))
	}
	if !to.After(from) {
		errs = append(errs, errors.New("from, to: to must be after from"))
	} else if to.Sub(from) > max {
		errs = append(errs, fmt.Errorf("from, to: at most %s", maxText))
	}
	return errors.Join(errs...)
}

// FlowPoint is the leads of one channel in one hour. Hour is the start of
// the hour in the account's time zone.
type FlowPoint struct {
	Hour    time.Time
	Channel string
	Leads   int64
}

// LeadFlow answers q from leads_hourly. Channels are the leads' own
// (last_non_direct).
func (r *Reports) LeadFlow(ctx context.Context, q FlowQuery) ([]FlowPoint, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	res, err := r.store.Query(ctx, strings.ReplaceAll(`SELECT toUnixTimestamp(hour) AS h, channel, sum(leads)
FROM ${db}.leads_hourly FINAL
WHERE tenant = {tenant:String} AND hour >= toDateTime({from:Int64}, 'UTC') AND hour < toDateTime({to:Int64}, 'UTC')
  AND ({account:String} = '' OR account = {account:String})
GROUP BY h, channel
ORDER BY h, channel`, "${db}", r.db), chstore.Params{
		"tenant": q.Tenant, "account": q.Account,
		"from": strconv.FormatInt(q.From.Unix(), 10), "to": strconv.FormatInt(q.To.Unix(), 10),
	})
	if err != nil {
		return nil, fmt.Errorf("reading lead flow: %w", err)
	}
	out := make([]FlowPoint, 0, len(res.Rows))
	for _, row := range res.Rows {
		out = append(out, FlowPoint{Hour: time.Unix(toInt64(row[0]), 0).UTC(), Channel: toString(row[1]), Leads: toInt64(row[2])})
	}
	return out, nil
}
