package console

import (
	"context"
	"net/http"

	"github.com/throughline/throughline/services/console/dashboard"
)

// setupDashboard builds the dashboard over the console's store, tenants
// and tokens: it reads what the report API's tokens read.
func (c *Console) setupDashboard(deps Deps) error {
	db := deps.Database
	if db == "" {
		db = DefaultDatabase
	}
	d, err := dashboard.New(dashboard.Config{}, dashboard.Deps{
		Tel: c.tel, Store: deps.Store, Database: db, Tenants: c.tenants,
		Kafka: deps.Kafka, Alerts: deps.Alerts, CostConnectors: deps.CostConnectors, Authorize: c.dashboardTenant,
	})
	if err != nil {
		return err
	}
	c.dash = d
	return nil
}

// dashboardTenant is the report API's check: a tenant's read token reads
// that tenant only; the SQL token (or an open console) reads the ?tenant=.
func (c *Console) dashboardTenant(r *http.Request) (string, error) {
	_, id, rerr := c.tenantOf(r)
	if rerr != nil {
		return "", &dashboard.AuthError{Status: rerr.status, Msg: rerr.msg}
	}
	return id, nil
}

// startDashboard runs the dashboard's live feed until the returned stop is
// called (or ctx ends); stop waits for it.
func (c *Console) startDashboard(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.dash.Run(ctx); err != nil {
			c.log.Error().Err(err).Msg("dashboard live feed failed")
		}
	}()
	return func() { cancel(); <-done }
}
