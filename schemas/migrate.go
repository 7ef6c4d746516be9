package schemas

import (
	"context"
	"fmt"

	"github.com/throughline/throughline/pkg/chstore"
)

// Migrations are the numbered ClickHouse migrations, in version order.
func Migrations() ([]chstore.Migration, error) {
	return chstore.LoadMigrations(ClickHouse, ClickHouseDir)
}

// Migrate applies the migrations db has not recorded yet. Every binary that
// owns a database at start (the loader, the all-in-one, `throughline
// clickhouse`) and every test that needs the tables calls this one function,
// so they all apply the same DDL the same way.
func Migrate(ctx context.Context, store chstore.Store, db string) error {
	migs, err := Migrations()
	if err != nil {
		return err
	}
	if _, err := chstore.Migrate(ctx, store, db, migs); err != nil {
		return fmt.Errorf("migrating clickhouse database %s: %w", db, err)
	}
	return nil
}
