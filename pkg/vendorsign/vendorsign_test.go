package vendorsign

import "testing"

// The value is sha256("k" + "{}" + "s") in hex, computed with sha256sum.
func TestMango(t *testing.T) {
	if got, want := Mango("k", "{}", "s"), "191a30303627fdf2dc8675859ee3d01537c4b5743eb9c58d3fe577a645be4471"; got != want {
		t.Fatalf("Mango = %s, want %s", got, want)
	}
}
