// Package costs reads ad-spend reports — Throughline's generic CSV and JSON,
// Yandex Direct report TSV, Google Ads searchStream JSON, VK Ads statistics
// JSON and Meta Insights JSON — into cost rows, and turns an upload's (or a
// pull's) rows into cost envelopes that restate the days they cover (see
// Envelopes).
//
// Amounts are kept in minor units of the tenant's currency and never pass
// through floating point: micro-units are divided with rounding half away
// from zero, decimal strings are read digit by digit.
package costs

import (
	"fmt"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// Formats are the report formats understood, as in ?format=.
var Formats = []string{"generic", "yandex", "google", "vk", "meta"}

// DefaultChannel is the channel a format's rows belong to unless told otherwise.
func DefaultChannel(format string) string {
	switch format {
	case "yandex":
		return "yandex_direct"
	case "google":
		return "google_ads"
	case "vk":
		return "vk_ads"
	case "meta":
		return "facebook_ads"
	}
	return ""
}

// defaultSource is the utm_source-like source of a vendor's rows.
func defaultSource(format string) string {
	switch format {
	case "yandex":
		return "yandex"
	case "google":
		return "google"
	case "vk":
		return "vk"
	case "meta":
		return "facebook"
	}
	return ""
}

// Row is one day of one campaign's spend, as the report had it.
type Row struct {
	Date        string // YYYY-MM-DD
	Account     string // the branch, when the report names one (generic only)
	Channel     string
	Source      string
	Medium      string
	Campaign    string
	CampaignID  string
	Amount      int64  // minor units of the tenant's currency
	Currency    string // as the report stated it; "" when it did not
	Clicks      int64
	Impressions int64
}

// Options say how to read a report.
type Options struct {
	Format      string // one of Formats; "" is generic
	ContentType string // generic: text/csv or application/json, else sniffed
	// Currency is the tenant's: amounts are converted to its minor units.
	Currency string
	// PlainMoney reads Yandex Direct's Cost as a decimal amount, for reports
	// requested with returnMoneyInMicros: false (?money=plain).
	PlainMoney bool
	// MaxRows bounds the rows of one upload; 0 is no bound.
	MaxRows int
	// AllowEmpty accepts a report without rows: a pulled report of days
	// without spend, which restates them to zero.
	AllowEmpty bool
}

// Parse reads a report. Errors are *event.FieldError naming the row and
// column at fault ("rows[3].cost"), or the part of the report that is wrong.
func Parse(body []byte, o Options) ([]Row, error) {
	body = trimBOM(body)
	exp := Exponent(o.Currency)
	var (
		rows []Row
		err  error
	)
	switch o.Format {
	case "", "generic":
		rows, err = parseGeneric(body, o.ContentType, exp, o.MaxRows)
	case "yandex":
		rows, err = parseYandex(body, exp, o.PlainMoney, o.MaxRows)
	case "google":
		rows, err = parseGoogle(body, exp, o.MaxRows)
	case "vk":
		rows, err = parseVK(body, exp, o.MaxRows)
	case "meta":
		rows, err = parseMeta(body, exp, o.MaxRows)
	default:
		return nil, &event.FieldError{Field: "format", Reason: fmt.Sprintf("%q is not one of %s", o.Format, strings.Join(Formats, ", "))}
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 && !o.AllowEmpty {
		return nil, &event.FieldError{Field: "rows", Reason: "the report has no rows"}
	}
	src := defaultSource(o.Format)
	for i := range rows {
		if rows[i].Source == "" && src != "" {
			rows[i].Source, rows[i].Medium = src, "cpc"
		}
		if rows[i].Amount < 0 {
			return nil, rowError(i, "cost", "negative")
		}
	}
	return rows, nil
}

// tooMany is the error for an upload over the row bound.
func tooMany(max int) error {
	return &event.FieldError{Field: "rows", Reason: fmt.Sprintf("more than %d rows in one upload: split it", max)}
}

func rowError(i int, field, reason string) error {
	return &event.FieldError{Field: fmt.Sprintf("rows[%d].%s", i, field), Reason: reason}
}

func trimBOM(b []byte) []byte {
	return []byte(strings.TrimPrefix(string(b), "\ufeff"))
}

// text cleans a label (campaign name, channel): trimmed, and "--" (Yandex's
// no-data) or an over-long value refused as a label.
func text(s string) string {
	s = strings.TrimSpace(s)
	if s == "--" {
		return ""
	}
	return s
}

// checkLabel refuses labels longer than the event limits allow.
func checkLabel(i int, field, v string) error {
	if len(v) > event.MaxShort {
		return rowError(i, field, fmt.Sprintf("longer than %d bytes", event.MaxShort))
	}
	return nil
}
