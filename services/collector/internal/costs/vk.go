package costs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// vkItem is one campaign (or ad plan, or banner) of a VK Ads statistics
// answer: GET /api/v2/statistics/campaigns/day.json (and the ad_plans and
// banners variants) with its rows per day. spent is a decimal string in the
// ad account's currency.
type vkItem struct {
	ID   json.RawMessage `json:"id"`
	Name string          `json:"name"`
	Rows []struct {
		Date string                     `json:"date"`
		Base map[string]json.RawMessage `json:"base"`
	} `json:"rows"`
}

// parseVK reads {"items": [...]} (or a bare array of items). The VK Ads
// answer names no currency: the ad account's must be the tenant's.
func parseVK(body []byte, exp, maxRows int) ([]Row, error) {
	var items []vkItem
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not a JSON array of VK Ads items: " + err.Error()}
		}
	} else {
		var answer struct {
			Items []vkItem `json:"items"`
		}
		if err := json.Unmarshal(trimmed, &answer); err != nil {
			return nil, &event.FieldError{Field: "body", Reason: "not VK Ads statistics JSON {\"items\": [...]}: " + err.Error()}
		}
		items = answer.Items
	}
	var rows []Row
	for k, it := range items {
		id := rawScalar(it.ID)
		name := strings.TrimSpace(it.Name)
		if name == "" {
			name = id
		}
		for _, r := range it.Rows {
			i := len(rows)
			if maxRows > 0 && i == maxRows {
				return nil, tooMany(maxRows)
			}
			var (
				row Row
				err error
			)
			if row.Date, err = parseDate(r.Date); err != nil {
				return nil, &event.FieldError{Field: fmt.Sprintf("items[%d].rows.date", k), Reason: fmt.Sprintf("%q: %v", clip(r.Date), err)}
			}
			spent, _ := metric(r.Base, "spent")
			if spent != "" {
				if row.Amount, err = parseMoney(spent, exp); err != nil {
					return nil, rowError(i, "base.spent", fmt.Sprintf("%q is not a decimal amount", clip(spent)))
				}
			}
			shows, _ := metric(r.Base, "shows", "impressions")
			if row.Impressions, err = parseCount(shows); err != nil {
				return nil, rowError(i, "base.shows", fmt.Sprintf("%q: %v", clip(shows), err))
			}
			clicks, _ := metric(r.Base, "clicks")
			if row.Clicks, err = parseCount(clicks); err != nil {
				return nil, rowError(i, "base.clicks", fmt.Sprintf("%q: %v", clip(clicks), err))
			}
			row.Campaign, row.CampaignID = name, id
			if err := checkLabel(i, "name", row.Campaign); err != nil {
				return nil, err
			}
			if err := checkLabel(i, "id", row.CampaignID); err != nil {
				return nil, err
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}
