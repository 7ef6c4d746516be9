package model

import (
	"slices"
	"testing"
)

// TestNames: the six models, the default among them, and a caller changing
// its slice does not change the next caller's.
func TestNames(t *testing.T) {
	want := []string{"first_click", "last_click", "last_non_direct", "linear", "time_decay", "position_based"}
	got := Names()
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if !slices.Contains(got, Default) || Default != "last_non_direct" {
		t.Fatalf("Default %q", Default)
	}
	got[0] = "changed"
	if Names()[0] != FirstClick {
		t.Fatal("Names shares its slice between callers")
	}
}
