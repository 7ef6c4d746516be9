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
	var errs []error
	if q.Tenant == "" {
		errs = append(errs, errors.New("tenant: required"))
	}
	if !q.To.After(q.From) {
		errs = append(errs, errors.New("from, to: to must be after from"))
	} else if q.To.Sub(q.From) > MaxFlowRange {
		errs = append(errs, fmt.Errorf("from, to: at most %v", MaxFlowRange))
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
