package costs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// genericColumns maps accepted header names to a row's fields.
var genericColumns = map[string]string{
	"date": "date", "day": "date", "account": "account", "channel": "channel",
	"source": "source", "utm_source": "source", "medium": "medium", "utm_medium": "medium",
	"campaign": "campaign", "campaign_name": "campaign", "campaign_id": "campaign_id",
	"cost": "cost", "spend": "cost", "amount": "cost", "clicks": "clicks",
	"impressions": "impressions", "shows": "impressions", "currency": "currency",
}

// parseGeneric reads Throughline's generic cost rows: CSV with a header line
// (comma, semicolon or tab separated), or JSON (an array of objects, or
// {"rows": [...]}), with the columns of genericColumns. cost is a decimal
// amount in major units.
func parseGeneric(body []byte, contentType string, exp, maxRows int) ([]Row, error) {
	trimmed := bytes.TrimSpace(body)
	isJSON := strings.Contains(contentType, "json")
	if !isJSON && !strings.Contains(contentType, "csv") && len(trimmed) > 0 {
		isJSON = trimmed[0] == '[' || trimmed[0] == '{'
	}
	if isJSON {
		return parseGenericJSON(trimmed, exp, maxRows)
	}
	return parseGenericCSV(body, exp, maxRows)
}

func parseGenericCSV(body []byte, exp, maxRows int) ([]Row, error) {
	first, _, _ := bytes.Cut(body, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = sniffDelimiter(string(first))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, &event.FieldError{Field: "header", Reason: "no CSV header line: " + csvReason(err)}
	}
	cols := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if f, ok := genericColumns[name]; ok {
			if _, dup := cols[f]; dup {
				return nil, &event.FieldError{Field: "header", Reason: fmt.Sprintf("column %q given twice", f)}
			}
			cols[f] = i
		}
	}
	for _, need := range []string{"date", "cost"} {
		if _, ok := cols[need]; !ok {
			return nil, &event.FieldError{Field: "header", Reason: fmt.Sprintf("column %q is required (have %s)", need, strings.Join(header, ","))}
		}
	}
	var rows []Row
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &event.FieldError{Field: fmt.Sprintf("rows[%d]", len(rows)), Reason: csvReason(err)}
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if maxRows > 0 && len(rows) == maxRows {
			return nil, tooMany(maxRows)
		}
		get := func(f string) string {
			if i, ok := cols[f]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row, err := genericRow(len(rows), get, exp)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func parseGenericJSON(body []byte, exp, maxRows int) ([]Row, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var items []map[string]any
	if len(body) > 0 && body[0] == '{' {
		var wrapper struct {
			Rows []map[string]any `json:"rows"`
		}
		if err := dec.Decode(&wrapper); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not JSON {\"rows\": [...]}: " + err.Error()}
		}
		items = wrapper.Rows
	} else if err := dec.Decode(&items); err != nil {
		return nil, &event.FieldError{Field: "body", Reason: "not a JSON array of rows: " + err.Error()}
	}
	if dec.More() {
		return nil, &event.FieldError{Field: "body", Reason: "data after the JSON value"}
	}
	if maxRows > 0 && len(items) > maxRows {
		return nil, tooMany(maxRows)
	}
	rows := make([]Row, 0, len(items))
	for i, it := range items {
		vals := map[string]string{}
		for k, v := range it {
			f, ok := genericColumns[strings.ToLower(k)]
			if !ok {
				continue
			}
			switch x := v.(type) {
			case nil:
			case string:
				vals[f] = strings.TrimSpace(x)
			case json.Number:
				vals[f] = x.String()
			default:
				return nil, rowError(i, f, "must be a string or a number")
			}
		}
		row, err := genericRow(i, func(f string) string { return vals[f] }, exp)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// genericRow checks and converts one row's values.
func genericRow(i int, get func(string) string, exp int) (Row, error) {
	var (
		row Row
		err error
	)
	if row.Date, err = parseDate(get("date")); err != nil {
		return Row{}, rowError(i, "date", fmt.Sprintf("%q: %v", clip(get("date")), err))
	}
	cost := get("cost")
	if cost == "" {
		return Row{}, rowError(i, "cost", "required")
	}
	if row.Amount, err = parseMoney(cost, exp); err != nil {
		return Row{}, rowError(i, "cost", fmt.Sprintf("%q is not a decimal amount", clip(cost)))
	}
	if row.Clicks, err = parseCount(get("clicks")); err != nil {
		return Row{}, rowError(i, "clicks", fmt.Sprintf("%q: %v", clip(get("clicks")), err))
	}
	if row.Impressions, err = parseCount(get("impressions")); err != nil {
		return Row{}, rowError(i, "impressions", fmt.Sprintf("%q: %v", clip(get("impressions")), err))
	}
	row.Account, row.Channel = text(get("account")), text(get("channel"))
	row.Source, row.Medium = text(get("source")), text(get("medium"))
	row.Campaign, row.CampaignID = text(get("campaign")), text(get("campaign_id"))
	row.Currency = strings.ToUpper(text(get("currency")))
	for f, v := range map[string]string{"account": row.Account, "channel": row.Channel, "source": row.Source,
		"medium": row.Medium, "campaign": row.Campaign, "campaign_id": row.CampaignID} {
		if err := checkLabel(i, f, v); err != nil {
			return Row{}, err
		}
	}
	if row.Currency != "" && len(row.Currency) != 3 {
		return Row{}, rowError(i, "currency", fmt.Sprintf("%q is not an ISO 4217 code", clip(row.Currency)))
	}
	return row, nil
}

// sniffDelimiter picks the separator the header line uses most.
func sniffDelimiter(header string) rune {
	best, n := ',', strings.Count(header, ",")
	for _, d := range []rune{';', '\t'} {
		if c := strings.Count(header, string(d)); c > n {
			best, n = d, c
		}
	}
	return best
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d: %v", pe.Line, pe.Err)
	}
	return err.Error()
}

// clip keeps an echoed value short in an error.
func clip(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
