package costs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/throughline/throughline/pkg/event"
)

// parseYandex reads a Yandex Direct Reports API report in TSV: an optional
// title line (the report name), the column names, the data rows and an
// optional last line "Total rows: N", which is checked against the rows
// read so a cut-off download is refused rather than half-restated. Cost is
// in micro-units unless plain is set (returnMoneyInMicros: false); "--"
// means no data. The columns used: Date, CampaignId, CampaignName, Cost,
// Clicks, Impressions.
func parseYandex(body []byte, exp int, plain bool, maxRows int) ([]Row, error) {
	lines := strings.Split(strings.TrimRight(string(body), "\r\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if len(lines) > 0 && !strings.Contains(lines[0], "\t") && !isTotal(lines[0]) {
		lines = lines[1:] // the report's title
	}
	if len(lines) == 0 {
		return nil, &event.FieldError{Field: "header", Reason: "no column names line (request the report without skipColumnHeader)"}
	}
	header := strings.Split(lines[0], "\t")
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"Date", "Cost"} {
		if _, ok := cols[need]; !ok {
			return nil, &event.FieldError{Field: "header", Reason: fmt.Sprintf(
				"column %s is missing (have %s; request it in FieldNames, without skipColumnHeader)", need, strings.Join(header, ","))}
		}
	}
	data := lines[1:]
	total := -1
	if n := len(data); n > 0 && isTotal(data[n-1]) {
		v := strings.TrimSpace(data[n-1][strings.IndexByte(data[n-1], ':')+1:])
		t, err := strconv.Atoi(v)
		if err != nil || t < 0 {
			return nil, &event.FieldError{Field: "total_rows", Reason: fmt.Sprintf("%q is not a row count", clip(data[n-1]))}
		}
		total, data = t, data[:n-1]
	}
	rows := make([]Row, 0, len(data))
	for _, line := range data {
		if strings.TrimSpace(line) == "" {
			continue
		}
		i := len(rows)
		if maxRows > 0 && i == maxRows {
			return nil, tooMany(maxRows)
		}
		rec := strings.Split(line, "\t")
		get := func(c string) string {
			if j, ok := cols[c]; ok && j < len(rec) {
				return strings.TrimSpace(rec[j])
			}
			return ""
		}
		var (
			row Row
			err error
		)
		if row.Date, err = parseDate(get("Date")); err != nil {
			return nil, rowError(i, "Date", fmt.Sprintf("%q: %v", clip(get("Date")), err))
		}
		cost := get("Cost")
		switch {
		case cost == "" || cost == "--":
		case plain:
			row.Amount, err = parseMoney(cost, exp)
		default:
			var micros int64
			if micros, err = parseMicros(cost); err == nil {
				row.Amount = microsToMinor(micros, exp)
			}
		}
		if err != nil {
			unit := "micro-units (or send ?money=plain)"
			if plain {
				unit = "a decimal amount"
			}
			return nil, rowError(i, "Cost", fmt.Sprintf("%q is not %s", clip(cost), unit))
		}
		if row.Clicks, err = parseCount(get("Clicks")); err != nil {
			return nil, rowError(i, "Clicks", fmt.Sprintf("%q: %v", clip(get("Clicks")), err))
		}
		if row.Impressions, err = parseCount(get("Impressions")); err != nil {
			return nil, rowError(i, "Impressions", fmt.Sprintf("%q: %v", clip(get("Impressions")), err))
		}
		row.CampaignID, row.Campaign = text(get("CampaignId")), text(get("CampaignName"))
		if row.Campaign == "" {
			row.Campaign = row.CampaignID
		}
		if err := checkLabel(i, "CampaignName", row.Campaign); err != nil {
			return nil, err
		}
		if err := checkLabel(i, "CampaignId", row.CampaignID); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if total >= 0 && total != len(rows) {
		return nil, &event.FieldError{Field: "total_rows", Reason: fmt.Sprintf(
			"the report says %d rows, %d arrived: the download was cut off", total, len(rows))}
	}
	return rows, nil
}

func isTotal(line string) bool {
	return strings.HasPrefix(strings.TrimSpace(line), "Total rows:")
}
