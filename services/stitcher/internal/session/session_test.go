package session

import (
	"testing"
	"time"

	"github.com/throughline/throughline/services/stitcher/internal/channel"
)

func TestSessionize(t *testing.T) {
	min := int64(time.Minute / time.Millisecond)
	ads := Origin{Source: channel.Source{Channel: "yandex_direct", Source: "yandex", Medium: "cpc", ClickID: "1", ClickParam: "yclid"}}
	ads2 := ads
	ads2.ClickID = "2"
	origins := []Origin{ads, ads2}
	hits := []Hit{
		{TS: 0, ID: "a", Src: 0, Page: "/"},
		{TS: 10 * min, ID: "b", Src: -1},
		{TS: 20 * min, ID: "c", Src: 0},  // same source: same session
		{TS: 51 * min, ID: "d", Src: -1}, // 31 min gap: new direct session
		{TS: 55 * min, ID: "e", Src: 1},  // new click id: new session
		{TS: 56 * min, ID: "f", Src: -1},
	}
	got := Sessionize(hits, origins, 30*time.Minute)
	if len(got) != 3 {
		t.Fatalf("got %d sessions: %+v", len(got), got)
	}
	if got[0].Hits != 3 || got[0].End != 20*min || got[0].Landing != "/" || got[0].Origin.Channel != "yandex_direct" {
		t.Errorf("first session: %+v", got[0])
	}
	if got[1].FirstID != "d" || !got[1].Origin.IsDirect() || got[1].Hits != 1 {
		t.Errorf("second session: %+v", got[1])
	}
	if got[2].FirstID != "e" || got[2].Hits != 2 || got[2].Origin.ClickID != "2" {
		t.Errorf("third session: %+v", got[2])
	}
}

func TestInsertKeepsOrderAndDropsDuplicates(t *testing.T) {
	var hits []Hit
	for _, h := range []Hit{{TS: 5, ID: "x"}, {TS: 1, ID: "y"}, {TS: 5, ID: "a"}, {TS: 5, ID: "x"}} {
		hits = Insert(hits, h)
	}
	want := []string{"y", "a", "x"}
	if len(hits) != 3 {
		t.Fatalf("got %v", hits)
	}
	for i, h := range hits {
		if h.ID != want[i] {
			t.Fatalf("got %v", hits)
		}
	}
}
