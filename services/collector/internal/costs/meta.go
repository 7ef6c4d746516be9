package costs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// metaRow is one row of a Meta Marketing API Insights answer requested with
// level=campaign and time_increment=1: one campaign on one day. The Graph
// API writes every metric as a string; spend is a decimal amount in the ad
// account's currency (account_currency when requested).
type metaRow struct {
	DateStart    string          `json:"date_start"`
	DateStop     string          `json:"date_stop"`
	CampaignID   json.RawMessage `json:"campaign_id"`
	CampaignName string          `json:"campaign_name"`
	Spend        json.RawMessage `json:"spend"`
	Clicks       json.RawMessage `json:"clicks"`
	Impressions  json.RawMessage `json:"impressions"`
	Currency     string          `json:"account_currency"`
}

// parseMeta reads Insights rows: one page {"data": [...], "paging": ...},
// or a bare array of rows (the pages of one pull joined). A row that spans
// more than one day (no time_increment=1) is refused: its spend cannot be
// put on a day.
func parseMeta(body []byte, exp, maxRows int) ([]Row, error) {
	var data []metaRow
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &data); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not a JSON array of Meta Insights rows: " + err.Error()}
		}
	} else {
		var page struct {
			Data []metaRow `json:"data"`
		}
		if err := json.Unmarshal(trimmed, &page); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not Meta Insights JSON {\"data\": [...]}: " + err.Error()}
		}
		data = page.Data
	}
	rows := make([]Row, 0, len(data))
	for i, r := range data {
		if maxRows > 0 && i == maxRows {
			return nil, tooMany(maxRows)
		}
		var (
			row Row
			err error
		)
		if row.Date, err = parseDate(r.DateStart); err != nil {
			return nil, rowError(i, "date_start", fmt.Sprintf("%q: %v", clip(r.DateStart), err))
		}
		if r.DateStop != "" && strings.TrimSpace(r.DateStop) != row.Date {
			return nil, rowError(i, "date_stop", fmt.Sprintf("%q: the row spans more than one day (request time_increment=1)", clip(r.DateStop)))
		}
		if spend := rawScalar(r.Spend); spend != "" {
			if row.Amount, err = parseMoney(spend, exp); err != nil {
				return nil, rowError(i, "spend", fmt.Sprintf("%q is not a decimal amount", clip(spend)))
			}
		}
		if row.Clicks, err = parseCount(rawScalar(r.Clicks)); err != nil {
			return nil, rowError(i, "clicks", fmt.Sprintf("%q: %v", clip(rawScalar(r.Clicks)), err))
		}
		if row.Impressions, err = parseCount(rawScalar(r.Impressions)); err != nil {
			return nil, rowError(i, "impressions", fmt.Sprintf("%q: %v", clip(rawScalar(r.Impressions)), err))
		}
		row.CampaignID = rawScalar(r.CampaignID)
		row.Campaign = strings.TrimSpace(r.CampaignName)
		if row.Campaign == "" {
			row.Campaign = row.CampaignID
		}
		if err := checkLabel(i, "campaign_name", row.Campaign); err != nil {
			return nil, err
		}
		if err := checkLabel(i, "campaign_id", row.CampaignID); err != nil {
			return nil, err
		}
		row.Currency = strings.ToUpper(strings.TrimSpace(r.Currency))
		rows = append(rows, row)
	}
	return rows, nil
}
