package deployments

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// dashboardFile is the Grafana dashboard (a plain dashboard JSON model).
var dashboardFile = filepath.Join("grafana", "noderemover.json")

// datasourceVar is the dashboard's data source: a template variable of
// type prometheus, so the dashboard imports into any Grafana.
const datasourceVar = "${datasource}"

// dashboard is the part of Grafana's dashboard JSON model the tests read.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int                  `json:"id"`
	Type       string               `json:"type"`
	Title      string               `json:"title"`
	Datasource *dashboardDatasource `json:"datasource"`
	Targets    []struct {
		RefID      string               `json:"refId"`
		Datasource *dashboardDatasource `json:"datasource"`
		Expr       string               `json:"expr"`
	} `json:"targets"`
}

type dashboardDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboard(tb testing.TB) dashboard {
	tb.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		tb.Fatal(err)
	}
	var d dashboard
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&d); err != nil {
		tb.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// Every panel has a title, the ${datasource} variable as its data source
// and at least one target with a query; the variable is a Prometheus data
// source variable.
func TestDashboardPanels(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("%s: title %q uid %q schemaVersion %d, want a title, a uid and a recent schema", dashboardFile, d.Title, d.UID, d.SchemaVersion)
	}
	found := false
	for _, v := range d.Templating.List {
		if "${"+v.Name+"}" == datasourceVar {
			found = v.Type == "datasource" && v.Query == "prometheus"
		}
	}
	if !found {
		t.Errorf("%s: no template variable %s of type datasource, query prometheus", dashboardFile, datasourceVar)
	}
	if len(d.Panels) == 0 {
		t.Fatalf("%s has no panels", dashboardFile)
	}
	ids := map[int]bool{}
	for i, p := range d.Panels {
		if p.Title == "" {
			t.Errorf("panel %d (id %d): no title", i, p.ID)
		}
		if ids[p.ID] {
			t.Errorf("panel %q: id %d taken", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != datasourceVar {
			t.Errorf("panel %q: datasource %+v, want prometheus %s", p.Title, p.Datasource, datasourceVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q: target %q without an expr or a refId", p.Title, tg.RefID)
			}
			if tg.Datasource != nil && tg.Datasource.UID != datasourceVar {
				t.Errorf("panel %q target %s: datasource %+v, want %s", p.Title, tg.RefID, tg.Datasource, datasourceVar)
			}
		}
	}
}
