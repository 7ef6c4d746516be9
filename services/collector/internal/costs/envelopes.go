package costs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/throughline/throughline/pkg/event"
)

// CentralAccount is the account of rows a tenant key uploaded without naming
// an account: spend bought centrally, allocated to the branches later.
const CentralAccount = "*"

// CommitName is the envelope name of the record that closes an import.
const CommitName = "import_commit"

// MaxRestateDays bounds the from..to range one upload may restate.
const MaxRestateDays = 366

// Import is one upload: who sent it and where its rows go.
type Import struct {
	ID       string
	Tenant   string
	Account  string // rows without an account go here; "" uploads them centrally
	Channel  string // rows without a channel get it
	Currency string // the tenant's
	Format   string
	Location *time.Location // the tenant's: a row's day starts at its midnight
	// ReceivedAt is when the upload arrived: the import's time, which
	// decides which import of a day is the latest.
	ReceivedAt time.Time
	// From and To (YYYY-MM-DD, optional) declare the days the upload
	// restates in full: a day in the range with no row for an account and
	// channel of the upload gets a zero row, so spend removed at the source
	// disappears here too.
	From, To string
}

// ValidImportID reports whether a sender-chosen import id is usable:
// 1-64 of A-Z, a-z, 0-9 and . _ : -.
func ValidImportID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-') {
			return false
		}
	}
	return true
}

// DefaultImportID derives an import id from what was uploaded, so that an
// upload retried after a failure (a 503, a timeout) has the same id and its
// rows replace, not add to, whatever of it got through.
func DefaultImportID(tenant, scope, params string, body []byte) string {
	h := sha256.New()
	for _, s := range []string{tenant, scope, params} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return "imp-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// Envelopes turns an upload's rows into cost envelopes, then one commit
// envelope per account the upload wrote to; the commits must be published
// only after every row was acknowledged. Rows of another currency than the
// tenant's are refused, never converted.
func Envelopes(rows []Row, im Import) (out, commits []event.Envelope, err error) {
	loc := im.Location
	if loc == nil {
		loc = time.UTC
	}
	var from, to time.Time
	if im.From != "" || im.To != "" {
		if from, to, err = restateRange(im.From, im.To, loc); err != nil {
			return nil, nil, err
		}
	}
	type slice struct{ account, channel, date string }
	type pair struct{ account, channel string }
	seen := map[slice]bool{}
	pairs := map[pair]bool{}
	perAccount := map[string]int{}
	received := im.ReceivedAt.UnixMilli()
	add := func(r Row, account string) error {
		central := account == ""
		if central {
			account = CentralAccount
		}
		day, err := time.ParseInLocation("2006-01-02", r.Date, loc)
		if err != nil {
			return err
		}
		n := len(out)
		out = append(out, event.Envelope{
			V: event.Version, ID: rowID(im.Tenant, im.ID, account, n), Tenant: im.Tenant, Account: account,
			Type: event.TypeCost, Source: "costs:" + im.Format, TS: day.UnixMilli(), ReceivedAt: received,
			Cost: &event.Cost{
				Date: r.Date, Channel: r.Channel, Source: r.Source, Medium: r.Medium, Campaign: r.Campaign,
				CampaignID: r.CampaignID, Amount: r.Amount, Currency: im.Currency, Clicks: r.Clicks,
				Impressions: r.Impressions, Central: central, ImportID: im.ID,
			},
		})
		perAccount[account]++
		seen[slice{account, r.Channel, r.Date}] = true
		pairs[pair{account, r.Channel}] = true
		return nil
	}
	for i, r := range rows {
		if r.Currency != "" && r.Currency != im.Currency {
			return nil, nil, rowError(i, "currency", fmt.Sprintf(
				"%s, but the tenant's currency is %s: convert the amounts before uploading (rows are never converted)", r.Currency, im.Currency))
		}
		if r.Channel == "" {
			r.Channel = im.Channel
		}
		if r.Channel == "" {
			return nil, nil, rowError(i, "channel", "required: a channel column, or ?channel=")
		}
		if !from.IsZero() && (r.Date < im.From || r.Date > im.To) {
			return nil, nil, rowError(i, "date", fmt.Sprintf("%s is outside the restated range %s..%s", r.Date, im.From, im.To))
		}
		account := r.Account
		if account == "" {
			account = im.Account
		}
		if err := add(r, account); err != nil {
			return nil, nil, rowError(i, "date", err.Error())
		}
	}
	if !from.IsZero() {
		target := im.Account
		if target == "" {
			target = CentralAccount
		}
		if im.Channel != "" {
			pairs[pair{target, im.Channel}] = true
		}
		keys := make([]pair, 0, len(pairs))
		for p := range pairs {
			keys = append(keys, p)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].account != keys[j].account {
				return keys[i].account < keys[j].account
			}
			return keys[i].channel < keys[j].channel
		})
		for _, p := range keys {
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				date := d.Format("2006-01-02")
				if seen[slice{p.account, p.channel, date}] {
					continue
				}
				acc := p.account
				if acc == CentralAccount {
					acc = ""
				}
				if err := add(Row{Date: date, Channel: p.channel}, acc); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, nil, &event.FieldError{Field: "rows", Reason: "nothing to import"}
	}
	accounts := make([]string, 0, len(perAccount))
	for a := range perAccount {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		commits = append(commits, event.Envelope{
			V: event.Version, ID: "cost-commit-" + digest(im.Tenant, im.ID, a), Tenant: im.Tenant, Account: a,
			Type: event.TypeCost, Name: CommitName, Source: "costs:" + im.Format, TS: received, ReceivedAt: received,
			Cost: &event.Cost{Currency: im.Currency, Central: a == CentralAccount, ImportID: im.ID,
				Commit: true, ImportRows: perAccount[a]},
		})
	}
	return out, commits, nil
}

// restateRange checks from..to: both given, in order, at most MaxRestateDays.
func restateRange(from, to string, loc *time.Location) (time.Time, time.Time, error) {
	f, err1 := parseDate(from)
	t, err2 := parseDate(to)
	switch {
	case err1 != nil:
		return time.Time{}, time.Time{}, &event.FieldError{Field: "from", Reason: fmt.Sprintf("%q: not a date (YYYY-MM-DD); from and to go together", clip(from))}
	case err2 != nil:
		return time.Time{}, time.Time{}, &event.FieldError{Field: "to", Reason: fmt.Sprintf("%q: not a date (YYYY-MM-DD); from and to go together", clip(to))}
	case f != from || t != to:
		return time.Time{}, time.Time{}, &event.FieldError{Field: "from", Reason: "from and to must be written YYYY-MM-DD"}
	}
	ft, _ := time.ParseInLocation("2006-01-02", f, loc)
	tt, _ := time.ParseInLocation("2006-01-02", t, loc)
	if tt.Before(ft) {
		return time.Time{}, time.Time{}, &event.FieldError{Field: "to", Reason: "before from"}
	}
	if days := int(tt.Sub(ft).Hours()/24+0.5) + 1; days > MaxRestateDays {
		return time.Time{}, time.Time{}, &event.FieldError{Field: "to", Reason: fmt.Sprintf("%d days: at most %d in one upload", days, MaxRestateDays)}
	}
	return ft, tt, nil
}

func rowID(tenant, importID, account string, n int) string {
	return "cost-" + digest(tenant, importID, account, strconv.Itoa(n))
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
