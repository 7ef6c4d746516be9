package costs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// googleRow is one result of a Google Ads query selecting segments.date,
// campaign.id, campaign.name, metrics.cost_micros, metrics.clicks and
// metrics.impressions (and optionally customer.currency_code). The REST API
// writes camelCase names and int64 values as strings; client libraries that
// keep the proto names write snake_case: both are read.
type googleRow struct {
	Segments struct {
		Date string `json:"date"`
	} `json:"segments"`
	Campaign struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	} `json:"campaign"`
	Metrics  map[string]json.RawMessage `json:"metrics"`
	Customer map[string]json.RawMessage `json:"customer"`
}

type googleBatch struct {
	Results []googleRow `json:"results"`
}

// parseGoogle reads Google Ads GoogleAdsService.SearchStream output: a JSON
// array of batches {"results": [...], "fieldMask": ..., "requestId": ...};
// a single batch (Search's response) or newline-separated batches are read
// too.
func parseGoogle(body []byte, exp, maxRows int) ([]Row, error) {
	var batches []googleBatch
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &batches); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not a searchStream JSON array: " + err.Error()}
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for dec.More() {
			var b googleBatch
			if err := dec.Decode(&b); err != nil {
				return nil, &event.FieldError{Field: "body", Reason: "not searchStream JSON: " + err.Error()}
			}
			batches = append(batches, b)
		}
	}
	var rows []Row
	for _, b := range batches {
		for _, r := range b.Results {
			i := len(rows)
			if maxRows > 0 && i == maxRows {
				return nil, tooMany(maxRows)
			}
			var (
				row Row
				err error
			)
			if row.Date, err = parseDate(r.Segments.Date); err != nil {
				return nil, rowError(i, "segments.date", fmt.Sprintf("%q: %v", clip(r.Segments.Date), err))
			}
			cost, name := metric(r.Metrics, "costMicros", "cost_micros")
			if cost == "" {
				return nil, rowError(i, "metrics.costMicros", "required (select metrics.cost_micros)")
			}
			micros, err := parseMicros(cost)
			if err != nil {
				return nil, rowError(i, "metrics."+name, fmt.Sprintf("%q is not micro-units", clip(cost)))
			}
			row.Amount = microsToMinor(micros, exp)
			for _, m := range []struct {
				dst   *int64
				names []string
			}{{&row.Clicks, []string{"clicks"}}, {&row.Impressions, []string{"impressions"}}} {
				v, name := metric(r.Metrics, m.names...)
				if *m.dst, err = parseCount(v); err != nil {
					return nil, rowError(i, "metrics."+name, fmt.Sprintf("%q: %v", clip(v), err))
				}
			}
			row.CampaignID = rawScalar(r.Campaign.ID)
			row.Campaign = strings.TrimSpace(r.Campaign.Name)
			if row.Campaign == "" {
				row.Campaign = row.CampaignID
			}
			if err := checkLabel(i, "campaign.name", row.Campaign); err != nil {
				return nil, err
			}
			if err := checkLabel(i, "campaign.id", row.CampaignID); err != nil {
				return nil, err
			}
			cur, _ := metric(r.Customer, "currencyCode", "currency_code")
			row.Currency = strings.ToUpper(cur)
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// metric reads the first present of names from a JSON object of scalars.
func metric(m map[string]json.RawMessage, names ...string) (string, string) {
	for _, n := range names {
		if raw, ok := m[n]; ok {
			return rawScalar(raw), n
		}
	}
	return "", names[0]
}

// rawScalar renders a JSON string or number as text; anything else is "".
func rawScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
		return ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
