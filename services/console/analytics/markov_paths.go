package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/throughline/throughline/pkg/chstore"
)

// MaxMarkovRange is the longest period of the data-driven model: it reads
// the entity tables (FINAL), not the aggregates, so it is bounded like a
// scan.
const MaxMarkovRange = 93 * 24 * time.Hour

// pathModel is the attribution model whose rows give a lead's touches: linear
// has one row per touch, in touch order.
const pathModel = "linear"

// noTouch is the channel of the one attribution row of a lead without a
// touchpoint.
const noTouch = "(none)"

// MarkovQuery selects the journeys of the data-driven model: leads created
// in [From, To), and persons with sessions in [From, To) and no lead in it.
type MarkovQuery struct {
	Tenant, Account string
	From, To        time.Time
}

// Validate names the parameter that is wrong.
func (q MarkovQuery) Validate() error {
	return validateWindow(q.Tenant, q.From, q.To, MaxMarkovRange, fmt.Sprintf("%d days", MaxMarkovRange/(24*time.Hour)))
}

// MarkovReport is the data-driven attribution of a tenant's period.
type MarkovReport struct {
	MarkovResult
	// Paths counts journeys (persons' and leads'), ConvertingPaths those
	// that ended in a lead with at least one touch; DistinctPaths the
	// distinct channel sequences among them.
	Paths, ConvertingPaths, DistinctPaths int64
	// UntouchedLeads are leads without a touchpoint (attribution channel
	// "(none)"): they are left out of the chain, as no channel could have
	// caused them, so they are not in Conversions either.
	UntouchedLeads int64
}

// markovPathsSQL is one row per distinct path: its channels as a JSON array
// (so the embedded engine and a server return the same), conversions, non-
// converting journeys and revenue. A lead's path is its touches under
// pathModel in touch order; a non-converting journey is a person's sessions
// in the period by start (sessions starting in the same millisecond by
// channel name), when the person has no lead in it. Latest
// versions only (FINAL drops superseded and deleted rows).
//
// The cost is grouping the period's sessions by person, so that step is
// kept cheap: a person is one String key (length-prefixed person_id, then
// account: injective, and a single String hashes faster than the pair),
// tested against the period's leads once per person (HAVING), not per
// session; a session is one Int128 — start in ms, then the index of its
// channel in chans, the period's channels sorted by name — so the array
// aggregated and sorted is numeric, and sorting it orders by start, then
// channel name, as sorting (started_at, channel) would. chans is read
// without FINAL: it is a superset of the latest versions' channels, which
// is all indexOf needs. Journeys are counted by path before the union, and
// a path is turned into JSON only once.
const markovPathsSQL = `WITH
    l AS
    (
        SELECT account, lead_id, person_id, revenue_minor
        FROM ${db}.leads FINAL
        WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
          AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
    ),
    touches AS
    (
        SELECT account, lead_id, arrayMap(x -> x.2, arraySort(groupArray((touch, channel)))) AS path
        FROM ${db}.attribution FINAL
        WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
          AND model = {model:String} AND channel != {none:String}
          AND (account, lead_id) IN (SELECT account, lead_id FROM l)
        GROUP BY account, lead_id
    ),
    (
        SELECT arraySort(groupUniqArray(channel))
        FROM ${db}.sessions
        WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
          AND started_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND started_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
    ) AS chans,
    visits AS
    (
        SELECT arrayMap(x -> chans[toUInt32(bitAnd(x, 4294967295))],
                        arraySort(groupArray(toInt128(toUnixTimestamp64Milli(started_at)) * 4294967296 + indexOf(chans, channel)))) AS path
        FROM ${db}.sessions FINAL
        WHERE tenant = {tenant:String} AND ({account:String} = '' OR account = {account:String})
          AND started_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND started_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
        GROUP BY concat(toString(length(person_id)), ':', person_id, account)
        HAVING concat(toString(length(person_id)), ':', person_id, account)
            NOT IN (SELECT concat(toString(length(person_id)), ':', person_id, account) FROM l)
    )
SELECT toJSONString(path) AS p, sum(conversions), sum(nulls), sum(revenue)
FROM
(
    SELECT t.path AS path, toInt64(count()) AS conversions, toInt64(0) AS nulls, sum(toInt64(l.revenue_minor)) AS revenue
    FROM l LEFT JOIN touches AS t ON t.account = l.account AND t.lead_id = l.lead_id
    GROUP BY path
    UNION ALL
    SELECT path, toInt64(0), toInt64(count()), toInt64(0) FROM visits GROUP BY path
)
GROUP BY path
ORDER BY p`

// Markov reads the period's journeys, aggregated by path in ClickHouse, and
// attributes its conversions by the removal effect (see Markov).
func (r *Reports) Markov(ctx context.Context, q MarkovQuery) (*MarkovReport, error) {
	paths, untouched, err := r.MarkovPaths(ctx, q)
	if err != nil {
		return nil, err
	}
	rep := &MarkovReport{MarkovResult: Markov(paths), UntouchedLeads: untouched, DistinctPaths: int64(len(paths))}
	for _, p := range paths {
		rep.Paths += p.Conversions + p.Nulls
		rep.ConvertingPaths += p.Conversions
	}
	return rep, nil
}

// MarkovPaths is the period's distinct paths, and the leads without a touch
// (which are not among them).
func (r *Reports) MarkovPaths(ctx context.Context, q MarkovQuery) ([]Path, int64, error) {
	if err := q.Validate(); err != nil {
		return nil, 0, err
	}
	res, err := r.store.Query(ctx, strings.ReplaceAll(markovPathsSQL, "${db}", r.db), chstore.Params{
		"tenant": q.Tenant, "account": q.Account, "model": pathModel, "none": noTouch,
		"from": strconv.FormatInt(q.From.UnixMilli(), 10), "to": strconv.FormatInt(q.To.UnixMilli(), 10),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading markov paths: %w", err)
	}
	var untouched int64
	paths := make([]Path, 0, len(res.Rows))
	for _, row := range res.Rows {
		p := Path{Conversions: toInt64(row[1]), Nulls: toInt64(row[2]), RevenueMinor: toInt64(row[3])}
		if err := json.Unmarshal([]byte(toString(row[0])), &p.Channels); err != nil {
			return nil, 0, fmt.Errorf("reading markov paths: path %q: %w", toString(row[0]), err)
		}
		if len(p.Channels) == 0 {
			untouched += p.Conversions // a lead whose only row is "(none)"
			continue
		}
		paths = append(paths, p)
	}
	return paths, untouched, nil
}
