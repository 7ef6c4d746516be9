package aggregates

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// The recomputation of a group of accounts that share a tenant and a time
// zone: each statement reads the latest versions (FINAL) of the accounts'
// entities and writes every key of the accounts' aggregates with the round's
// version. Keys that got no row in this round are deleted afterwards
// (staleSQL). Days and hours are cut in the accounts' time zone.
const (
	trafficSQL = `INSERT INTO ${db}.traffic_daily
    (tenant, day, account, channel, source, medium, campaign, sessions, version, deleted)
SELECT tenant, toDate(started_at, {tz:String}) AS day, account, channel, source, medium, campaign,
       count() AS sessions, {version:UInt64}, 0
FROM ${db}.sessions FINAL
WHERE tenant = {tenant:String} AND account IN {accounts:Array(String)}
GROUP BY tenant, day, account, channel, source, medium, campaign`

	hourlySQL = `INSERT INTO ${db}.leads_hourly (tenant, hour, account, channel, kind, leads, version, deleted)
SELECT tenant, toStartOfHour(ts, {tz:String}) AS hour, account, channel, kind, count() AS leads, {version:UInt64}, 0
FROM ${db}.leads FINAL
WHERE tenant = {tenant:String} AND account IN {accounts:Array(String)}
GROUP BY tenant, hour, account, channel, kind`

	refreshedSQL = `INSERT INTO ${db}.analytics_refreshes (tenant, account, version, timezone, refreshed_at, watermark)
SELECT {tenant:String}, account, {version:UInt64}, {tz:String}, now64(3), toDateTime64(0, 3, 'UTC')
FROM (SELECT arrayJoin({accounts:Array(String)}) AS account)`
)

// staleSQL deletes the keys of the accounts that this round's version did
// not write: combinations that no longer have data.
// spendSQL writes a tenant's spend_daily: its current costs, central spend
// allocated by the sessions in traffic_daily (recomputed just before).
var spendSQL = `INSERT INTO ${db}.spend_daily
    (tenant, day, account, central, channel, source, medium, campaign, campaign_id, cost_minor, clicks, impressions, version, deleted)
SELECT {tenant:String}, day, account, central, channel, source, medium, campaign, campaign_id,
       sum(cost_minor), sum(clicks), sum(impressions), {version:UInt64}, 0
FROM
(
` + Allocation(
	"SELECT day, account, channel, source, medium, campaign, sessions FROM ${db}.traffic_daily FINAL WHERE tenant = {tenant:String}",
	`SELECT date AS day, account, central, channel, source, medium, campaign, campaign_id, amount_minor AS cost_minor, clicks, impressions
        FROM ${db}.costs_current WHERE tenant = {tenant:String}`) + `
)
GROUP BY day, account, central, channel, source, medium, campaign, campaign_id`

// staleSpendSQL deletes a tenant's spend keys this round did not write.
const staleSpendSQL = `INSERT INTO ${db}.spend_daily
    (tenant, day, account, central, channel, source, medium, campaign, campaign_id, cost_minor, clicks, impressions, version, deleted)
SELECT tenant, day, account, central, channel, source, medium, campaign, campaign_id, 0, 0, 0, {version:UInt64}, 1
FROM ${db}.spend_daily FINAL
WHERE tenant = {tenant:String} AND version < {version:UInt64}`

// leadsSQL writes leads_daily from leadFactsSQL.
var leadsSQL = `INSERT INTO ${db}.leads_daily
    (tenant, model, day, account, channel, source, medium, campaign,
     leads, leads_call, leads_form, leads_chat, leads_crm, target_leads, unique_leads, deals, won_deals, revenue_minor, units, new_customers,
     version, deleted)
SELECT {tenant:String}, model, day, account, channel, source, medium, campaign,
       leads, leads_call, leads_form, leads_chat, leads_crm, target_leads, unique_leads, deals, won_deals, revenue_minor, units, new_customers, {version:UInt64}, 0
FROM
(
` + LeadFacts("tenant = {tenant:String} AND account IN {accounts:Array(String)}", "toDate(f.ts, {tz:String})") + `
)`

var staleSQL = map[string]string{
	"traffic_daily": `INSERT INTO ${db}.traffic_daily
    (tenant, day, account, channel, source, medium, campaign, sessions, version, deleted)
SELECT tenant, day, account, channel, source, medium, campaign, 0, {version:UInt64}, 1
FROM ${db}.traffic_daily FINAL
WHERE tenant = {tenant:String} AND account IN {accounts:Array(String)} AND version < {version:UInt64}`,
	"leads_daily": `INSERT INTO ${db}.leads_daily
    (tenant, model, day, account, channel, source, medium, campaign,
     leads, leads_call, leads_form, leads_chat, leads_crm, target_leads, unique_leads, deals, won_deals, revenue_minor, units, new_customers,
     version, deleted)
SELECT tenant, model, day, account, channel, source, medium, campaign, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {version:UInt64}, 1
FROM ${db}.leads_daily FINAL
WHERE tenant = {tenant:String} AND account IN {accounts:Array(String)} AND version < {version:UInt64}`,
	"leads_hourly": `INSERT INTO ${db}.leads_hourly (tenant, hour, account, channel, kind, leads, version, deleted)
SELECT tenant, hour, account, channel, kind, 0, {version:UInt64}, 1
FROM ${db}.leads_hourly FINAL
WHERE tenant = {tenant:String} AND account IN {accounts:Array(String)} AND version < {version:UInt64}`,
}

var staleOrder = []string{"traffic_daily", "leads_daily", "leads_hourly"}

func (r *Refresher) sql(q string) string { return strings.ReplaceAll(q, "${db}", r.db) }

// recompute rewrites the aggregates of the accounts, then the spend of the
// tenants, with the version.
func (r *Refresher) recompute(ctx context.Context, accounts []Account, spendTenants []string, version uint64) error {
	if err := r.recomputeAccounts(ctx, accounts, version); err != nil {
		return err
	}
	v := strconv.FormatUint(version, 10)
	for _, t := range spendTenants {
		p := chstore.Params{"tenant": t, "version": v}
		if err := r.store.Exec(ctx, r.sql(spendSQL), p); err != nil {
			return fmt.Errorf("recomputing spend of %s: %w", t, err)
		}
		if err := r.store.Exec(ctx, r.sql(staleSpendSQL), p); err != nil {
			return fmt.Errorf("deleting stale spend of %s: %w", t, err)
		}
	}
	return nil
}

func (r *Refresher) recomputeAccounts(ctx context.Context, accounts []Account, version uint64) error {
	if len(accounts) == 0 {
		return nil
	}
	type group struct{ tenant, zone string }
	groups := map[group][]string{}
	var order []group
	byTenant := map[string][]string{}
	var tenants []string
	for _, a := range accounts {
		g := group{a.Tenant, r.zone(a)}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], a.Account)
		if byTenant[a.Tenant] == nil {
			tenants = append(tenants, a.Tenant)
		}
		byTenant[a.Tenant] = append(byTenant[a.Tenant], a.Account)
	}
	v := strconv.FormatUint(version, 10)
	for _, g := range order {
		accs := groups[g]
		for i := 0; i < len(accs); i += r.cfg.Batch {
			chunk := accs[i:min(i+r.cfg.Batch, len(accs))]
			p := chstore.Params{"tenant": g.tenant, "tz": g.zone, "accounts": chstore.StringArray(chunk), "version": v}
			for _, q := range []struct{ what, sql string }{
				{"traffic", trafficSQL}, {"leads", leadsSQL}, {"lead flow", hourlySQL}, {"refresh record", refreshedSQL},
			} {
				if err := r.store.Exec(ctx, r.sql(q.sql), p); err != nil {
					return fmt.Errorf("recomputing %s of %s (%d accounts): %w", q.what, g.tenant, len(chunk), err)
				}
			}
		}
	}
	for _, t := range tenants {
		p := chstore.Params{"tenant": t, "accounts": chstore.StringArray(byTenant[t]), "version": v}
		for _, table := range staleOrder {
			if err := r.store.Exec(ctx, r.sql(staleSQL[table]), p); err != nil {
				return fmt.Errorf("deleting stale rows of %s for %s: %w", table, t, err)
			}
		}
	}
	return nil
}

func (r *Refresher) zone(a Account) string {
	if z := r.zones(a.Tenant, a.Account); z != "" {
		return z
	}
	return "UTC"
}

// change is one row of the change log.
type change struct {
	key changeKey
	at  time.Time
}

func (r *Refresher) readChanges(ctx context.Context, from time.Time) ([]change, error) {
	res, err := r.store.Query(ctx, r.sql(`SELECT toUnixTimestamp64Milli(changed_at), tenant, account, source, partition, first_offset, last_offset
FROM ${db}.analytics_changes
WHERE changed_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`), chstore.Params{"from": strconv.FormatInt(from.UnixMilli(), 10)})
	if err != nil {
		return nil, fmt.Errorf("reading the analytics change log: %w", err)
	}
	out := make([]change, 0, len(res.Rows))
	for _, row := range res.Rows {
		at := chstore.AsInt64(row[0])
		k := changeKey{at: at, tenant: chstore.AsString(row[1]), account: chstore.AsString(row[2]), table: chstore.AsString(row[3]),
			partition: uint32(chstore.AsInt64(row[4])), first: chstore.AsUint64(row[5]), last: chstore.AsUint64(row[6])}
		out = append(out, change{key: k, at: time.UnixMilli(at)})
	}
	return out, nil
}

// allAccounts lists every account with entities or aggregates.
func (r *Refresher) allAccounts(ctx context.Context) ([]Account, error) {
	var parts []string
	for _, t := range []string{"sessions", "leads", "deals", "attribution", "costs", "traffic_daily", "leads_daily", "leads_hourly", "spend_daily"} {
		parts = append(parts, "SELECT tenant, account FROM ${db}."+t+" GROUP BY tenant, account")
	}
	res, err := r.store.Query(ctx, r.sql("SELECT DISTINCT tenant, account FROM ("+strings.Join(parts, " UNION ALL ")+") ORDER BY tenant, account"), nil)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	out := make([]Account, 0, len(res.Rows))
	for _, row := range res.Rows {
		out = append(out, Account{chstore.AsString(row[0]), chstore.AsString(row[1])})
	}
	return out, nil
}

// movedZones lists accounts whose aggregates were cut in another time zone
// than the one configured now.
func (r *Refresher) movedZones(ctx context.Context) ([]Account, error) {
	res, err := r.store.Query(ctx, r.sql(`SELECT tenant, account, argMax(timezone, version)
FROM ${db}.analytics_refreshes WHERE tenant != '' GROUP BY tenant, account`), nil)
	if err != nil {
		return nil, fmt.Errorf("reading refresh records: %w", err)
	}
	var out []Account
	for _, row := range res.Rows {
		a := Account{chstore.AsString(row[0]), chstore.AsString(row[1])}
		if chstore.AsString(row[2]) != r.zone(a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (r *Refresher) loadWatermark(ctx context.Context) (time.Time, error) {
	res, err := r.store.Query(ctx, r.sql(`SELECT toUnixTimestamp64Milli(argMax(watermark, version)), count()
FROM ${db}.analytics_refreshes WHERE tenant = '' AND account = ''`), nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the refresh watermark: %w", err)
	}
	if len(res.Rows) != 1 || chstore.AsInt64(res.Rows[0][1]) == 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(chstore.AsInt64(res.Rows[0][0])).UTC(), nil
}

func (r *Refresher) saveWatermark(ctx context.Context, version uint64, at time.Time) error {
	err := r.store.Exec(ctx, r.sql(`INSERT INTO ${db}.analytics_refreshes (tenant, account, version, timezone, refreshed_at, watermark)
VALUES ('', '', {version:UInt64}, '', now64(3), fromUnixTimestamp64Milli({at:Int64}, 'UTC'))`),
		chstore.Params{"version": strconv.FormatUint(version, 10), "at": strconv.FormatInt(at.UnixMilli(), 10)})
	if err != nil {
		return fmt.Errorf("recording the refresh watermark: %w", err)
	}
	return nil
}
