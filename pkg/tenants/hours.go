package tenants

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BusinessHours are when a branch works, on its own clock (the account's
// time zone, else the tenant's). Set per tenant, overridden per account.
// Without any, a branch counts as open around the clock.
//
//	business_hours: {days: [mon..fri], from: "09:00", to: "20:00"}
//
// Days take names (mon, tue, …, sun) and ranges ("mon..fri"); to at or
// before from spans midnight ("20:00" to "02:00" closes at 02:00 the next
// day); "24:00" is the end of the day.
type BusinessHours struct {
	Days []string `yaml:"days"` // default mon..fri
	From string   `yaml:"from"` // HH:MM, default 00:00
	To   string   `yaml:"to"`   // HH:MM, default 24:00
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Schedule is business hours resolved for one account.
type Schedule struct {
	Loc *time.Location
	// Always is set when no business hours are configured: always open.
	Always bool
	Days   [7]bool       // by time.Weekday: the days an opening starts on
	From   time.Duration // since local midnight
	To     time.Duration // since local midnight; at or before From: the next day
}

// parse resolves the hours; errors name the field under where.
func (b *BusinessHours) parse(where string) (Schedule, error) {
	s := Schedule{}
	days := b.Days
	if len(days) == 0 {
		days = []string{"mon..fri"}
	}
	for i, d := range days {
		d = strings.ToLower(strings.TrimSpace(d))
		lo, hi, isRange := strings.Cut(d, "..")
		if !isRange {
			hi = lo
		}
		a, okA := weekdays[lo]
		z, okZ := weekdays[hi]
		if !okA || !okZ {
			return s, fmt.Errorf("%s.days[%d]: %q is not a day (mon..sun) or a range like mon..fri", where, i, b.Days[i])
		}
		for w := a; ; w = (w + 1) % 7 {
			s.Days[w] = true
			if w == z {
				break
			}
		}
	}
	var err error
	if s.From, err = clockTime(b.From, 0); err != nil {
		return s, fmt.Errorf("%s.from: %w", where, err)
	}
	if s.To, err = clockTime(b.To, 24*time.Hour); err != nil {
		return s, fmt.Errorf("%s.to: %w", where, err)
	}
	if s.From == 24*time.Hour {
		return s, fmt.Errorf("%s.from: 24:00 is the end of a day, not a start", where)
	}
	if s.From == s.To {
		return s, fmt.Errorf("%s: from and to are both %s: an empty opening", where, b.From)
	}
	return s, nil
}

func clockTime(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	h, m, ok := strings.Cut(v, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (00:00 to 24:00)", v)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

func validateSchedule(where, tz string, b *BusinessHours) error {
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			return fmt.Errorf("%s.timezone: %w", where, err)
		}
	}
	if b != nil {
		if _, err := b.parse(where + ".business_hours"); err != nil {
			return err
		}
	}
	return nil
}

// Location is the time zone of an account (its own, else its tenant's,
// else UTC). An empty account gives the tenant's.
func (c *Config) Location(tenant, account string) *time.Location {
	t, a := c.Find(tenant, account)
	for _, tz := range []string{accountTZ(a), tenantTZ(t)} {
		if tz != "" {
			if loc, err := time.LoadLocation(tz); err == nil {
				return loc
			}
		}
	}
	return time.UTC
}

// Zone is the IANA name of an account's time zone: its own, else its
// tenant's, else "UTC". The report aggregates cut days in it.
func (c *Config) Zone(tenant, account string) string {
	t, a := c.Find(tenant, account)
	return cmp.Or(accountTZ(a), tenantTZ(t), "UTC")
}

func accountTZ(a *Account) string {
	if a == nil {
		return ""
	}
	return a.Timezone
}

func tenantTZ(t *Tenant) string {
	if t == nil {
		return ""
	}
	return t.Timezone
}

// Schedule returns an account's business hours in its time zone (an empty
// account: the tenant's). Unknown tenants and accounts are open always, in UTC.
func (c *Config) Schedule(tenant, account string) Schedule {
	t, a := c.Find(tenant, account)
	var b *BusinessHours
	switch {
	case a != nil && a.BusinessHours != nil:
		b = a.BusinessHours
	case t != nil:
		b = t.BusinessHours
	}
	s := Schedule{Always: true}
	if b != nil {
		if parsed, err := b.parse(""); err == nil { // validated at load
			s = parsed
		}
	}
	s.Loc = c.Location(tenant, account)
	return s
}

// openingsAround calls fn with each opening that starts on the local day of t
// or the day before (one may span midnight into t's day).
func (s Schedule) openingsAround(t time.Time, fn func(from, to time.Time)) {
	lt := t.In(s.Loc)
	for back := 1; back >= 0; back-- {
		day := time.Date(lt.Year(), lt.Month(), lt.Day()-back, 0, 0, 0, 0, s.Loc)
		if f, to, ok := s.opening(day); ok {
			fn(f, to)
		}
	}
}

// opening is the opening that starts on the local day beginning at day.
func (s Schedule) opening(day time.Time) (from, to time.Time, ok bool) {
	if !s.Days[day.Weekday()] {
		return from, to, false
	}
	from = wallClock(day, s.From)
	if s.To > s.From {
		to = wallClock(day, s.To)
	} else {
		to = wallClock(day.AddDate(0, 0, 1), s.To)
	}
	return from, to, true
}

// wallClock is the instant the local clock shows d after midnight of day,
// so 09:00 stays 09:00 across a daylight-saving change.
func wallClock(day time.Time, d time.Duration) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, int(d/time.Minute), 0, 0, day.Location())
}

// Open reports whether t falls in business hours.
func (s Schedule) Open(t time.Time) bool {
	if s.Always {
		return true
	}
	open := false
	s.openingsAround(t, func(from, to time.Time) {
		if !t.Before(from) && t.Before(to) {
			open = true
		}
	})
	return open
}

// OpenBetween is the business time in [from, to).
func (s Schedule) OpenBetween(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if s.Always {
		return to.Sub(from)
	}
	var sum time.Duration
	lf := from.In(s.Loc)
	day := time.Date(lf.Year(), lf.Month(), lf.Day()-1, 0, 0, 0, 0, s.Loc)
	for !day.After(to) {
		if f, t, ok := s.opening(day); ok {
			if f.Before(from) {
				f = from
			}
			if t.After(to) {
				t = to
			}
			if t.After(f) {
				sum += t.Sub(f)
			}
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, s.Loc)
	}
	return sum
}

// OpenAfter is the instant at which d of business time has passed since
// from, or the zero time when that is over a year away.
func (s Schedule) OpenAfter(from time.Time, d time.Duration) time.Time {
	if s.Always {
		return from.Add(d)
	}
	lf := from.In(s.Loc)
	day := time.Date(lf.Year(), lf.Month(), lf.Day()-1, 0, 0, 0, 0, s.Loc)
	for range 400 {
		if f, t, ok := s.opening(day); ok && t.After(from) {
			if f.Before(from) {
				f = from
			}
			if t.Sub(f) >= d {
				return f.Add(d)
			}
			d -= t.Sub(f)
		}
		day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, s.Loc)
	}
	return time.Time{}
}
