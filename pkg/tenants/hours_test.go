package tenants

import (
	"strings"
	"testing"
	"time"
)

const hoursSample = `
tenants:
  - id: net
    timezone: Europe/Moscow
    business_hours: {days: [mon..fri], from: "09:00", to: "20:00"}
    accounts:
      - id: msk
      - id: nsk
        timezone: Asia/Novosibirsk
        business_hours: {days: [mon..sat], from: "10:00", to: "19:00"}
      - id: bar
        business_hours: {days: [fri, sat], from: "20:00", to: "02:00"}
  - id: plain
    accounts: [{id: a}]
`

func TestScheduleInTheAccountsZone(t *testing.T) {
	c, err := Parse([]byte(hoursSample))
	if err != nil {
		t.Fatal(err)
	}
	msk := c.Schedule("net", "msk")
	// Monday 2026-03-02 06:30 UTC is 09:30 in Moscow, 13:30 in Novosibirsk.
	mon := time.Date(2026, 3, 2, 6, 30, 0, 0, time.UTC)
	if !msk.Open(mon) {
		t.Error("msk should be open at 09:30 Moscow time")
	}
	if msk.Open(mon.Add(-time.Hour)) {
		t.Error("msk should be closed at 08:30 Moscow time")
	}
	if msk.Open(mon.AddDate(0, 0, 5)) {
		t.Error("msk should be closed on Saturday")
	}
	nsk := c.Schedule("net", "nsk")
	if nsk.Loc.String() != "Asia/Novosibirsk" || !nsk.Open(mon.AddDate(0, 0, 5)) {
		t.Error("nsk overrides the tenant's hours and zone: open Saturday 13:30")
	}
	if nsk.Open(mon.Add(6 * time.Hour)) { // 19:30 Novosibirsk
		t.Error("nsk closes at 19:00")
	}
	bar := c.Schedule("net", "bar")
	sat1am := time.Date(2026, 3, 7, 1, 0, 0, 0, bar.Loc) // Friday's opening, after midnight
	if !bar.Open(sat1am) || bar.Open(sat1am.Add(2*time.Hour)) {
		t.Error("an opening past midnight belongs to the day it starts")
	}
	if always := c.Schedule("plain", "a"); !always.Always || !always.Open(mon) || always.Loc != time.UTC {
		t.Error("no business hours: always open, UTC")
	}
}

func TestScheduleOpenBetweenAndAfter(t *testing.T) {
	c, err := Parse([]byte(hoursSample))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Schedule("net", "msk")
	loc := s.Loc
	fri18 := time.Date(2026, 3, 6, 18, 0, 0, 0, loc)
	mon10 := time.Date(2026, 3, 9, 10, 0, 0, 0, loc)
	if got := s.OpenBetween(fri18, mon10); got != 3*time.Hour {
		t.Errorf("Friday 18:00 to Monday 10:00 = %s of business time, want 3h", got)
	}
	if got := s.OpenAfter(fri18, 3*time.Hour); !got.Equal(mon10) {
		t.Errorf("3h of business time after Friday 18:00 = %s, want Monday 10:00", got)
	}
	if got := s.OpenBetween(mon10, fri18); got != 0 {
		t.Errorf("backwards interval = %s", got)
	}
	night := time.Date(2026, 3, 3, 23, 0, 0, 0, loc)
	if got := s.OpenAfter(night, time.Minute); !got.Equal(time.Date(2026, 3, 4, 9, 1, 0, 0, loc)) {
		t.Errorf("a minute of business time after 23:00 = %s", got)
	}
}

func TestScheduleAcrossDaylightSaving(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata")
	}
	s := Schedule{Loc: loc, From: 9 * time.Hour, To: 17 * time.Hour}
	for d := range s.Days {
		s.Days[d] = true
	}
	// 2026-03-29: clocks go forward at 02:00; 09:00 stays 09:00 local.
	if !s.Open(time.Date(2026, 3, 29, 9, 30, 0, 0, loc)) || s.Open(time.Date(2026, 3, 29, 8, 30, 0, 0, loc)) {
		t.Error("opening should follow the local clock across the change")
	}
	day := time.Date(2026, 3, 29, 0, 0, 0, 0, loc)
	if got := s.OpenBetween(day, day.Add(24*time.Hour)); got != 8*time.Hour {
		t.Errorf("business time on the short day = %s, want 8h", got)
	}
}

func TestBusinessHoursErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		`days: [mon..fri]`: `days: [monday]`,
		`from: "09:00"`:    `from: "9am"`,
		`to: "20:00"`:      `to: "25:00"`,
		`to: "19:00"`:      `to: "10:00"`,
	}
	want := map[string]string{
		`days: [mon..fri]`: "tenants[0].business_hours.days[0]",
		`from: "09:00"`:    "tenants[0].business_hours.from",
		`to: "20:00"`:      "tenants[0].business_hours.to",
		`to: "19:00"`:      "tenants[0].accounts[1].business_hours",
	}
	for from, to := range cases {
		_, err := Parse([]byte(strings.Replace(hoursSample, from, to, 1)))
		if err == nil || !strings.Contains(err.Error(), want[from]) {
			t.Errorf("%s → %s: error %v, want it to name %s", from, to, err, want[from])
		}
	}
	_, err := Parse([]byte(strings.Replace(hoursSample, "Asia/Novosibirsk", "Asia/Nowhere", 1)))
	if err == nil || !strings.Contains(err.Error(), "tenants[0].accounts[1].timezone") {
		t.Errorf("bad account zone: %v", err)
	}
}
