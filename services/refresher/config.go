package refresher

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/throughline/throughline/pkg/aggregates"
	"github.com/throughline/throughline/pkg/flagenv"
)

// Config configures the refresher.
type Config struct {
	// Aggregates configures the rounds (interval, lookback, settle, full
	// rounds, batch); Interval 0 turns the refresher off.
	Aggregates aggregates.RefreshConfig
	// Group is the Kafka consumer group whose leader refreshes. Empty: the
	// group of the database (GroupFor), so refreshers of one database
	// always share a group and exactly one of them works.
	Group string
}

// GroupPrefix starts the name of every refresher group.
const GroupPrefix = "throughline-refresher-"

// GroupFor is the default group of the refreshers of database db.
func GroupFor(db string) string { return GroupPrefix + db }

// RegisterFlags registers the refresher's settings on fs (env:
// THROUGHLINE_ANALYTICS_*, THROUGHLINE_REFRESHER_GROUP), with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Aggregates.RegisterFlags(fs)
	flagenv.String(fs, &c.Group, "refresher-group", "", "Kafka consumer group whose leader refreshes the aggregates (default: "+GroupPrefix+"<clickhouse-database>)")
}

// Validate names the setting that is wrong. It changes nothing.
func (c Config) Validate() error {
	var errs []error
	if err := c.Aggregates.Validate(); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(c.Group) != c.Group {
		errs = append(errs, fmt.Errorf("refresher-group: %q has surrounding spaces", c.Group))
	}
	return errors.Join(errs...)
}

// group is the group this refresher joins for database db.
func (c Config) group(db string) string {
	if c.Group != "" {
		return c.Group
	}
	return GroupFor(db)
}
