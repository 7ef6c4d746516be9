package dashboard

import (
	"net/http"
)

// ConnectorsView is the body of GET /v1/dashboard/costs/connectors when no
// collector status is at hand (the console runs apart from the collectors):
// the tenant's connectors from the tenants file, state unavailable. With
// the collector's handler (the all-in-one) its view is served as is:
// state pulling/standby/off and per connector the last successful pull,
// the last error and the next run (docs/costs.md).
type ConnectorsView struct {
	Tenant     string          `json:"tenant"`
	State      string          `json:"state"`
	Connectors []ConnectorInfo `json:"connectors"`
}

// ConnectorInfo is a connector as the tenants file names it.
type ConnectorInfo struct {
	Account   string `json:"account"` // "" for the tenant's central connectors
	Connector string `json:"connector"`
	Provider  string `json:"provider"`
	Channel   string `json:"channel"`
}

// serveCostConnectors is GET /v1/dashboard/costs/connectors[?account=]:
// the status of the token's tenant's cost connectors. Whether yesterday's
// spend arrived is the alerter's costs_missing alert, which the page shows
// beside each connector.
func (d *Dashboard) serveCostConnectors(w http.ResponseWriter, r *http.Request) {
	tenant, account, ok := d.scope(w, r)
	if !ok {
		return
	}
	if d.costConnectors != nil {
		forward(w, r, d.costConnectors, "/", tenant, account)
		return
	}
	view := ConnectorsView{Tenant: tenant, State: "unavailable", Connectors: []ConnectorInfo{}}
	if t, _ := d.tenants.Find(tenant, ""); t != nil {
		for i := range t.CostConnectors {
			c := &t.CostConnectors[i]
			view.Connectors = append(view.Connectors, ConnectorInfo{Connector: c.ID(), Provider: c.Provider, Channel: c.ChannelOrDefault()})
		}
		for _, a := range t.Accounts {
			if account != "" && a.ID != account {
				continue
			}
			for i := range a.CostConnectors {
				c := &a.CostConnectors[i]
				view.Connectors = append(view.Connectors, ConnectorInfo{Account: a.ID, Connector: c.ID(), Provider: c.Provider,
					Channel: c.ChannelOrDefault()})
			}
		}
	}
	writeJSON(w, view)
}
