package refresher

import (
	"testing"

	"github.com/throughline/throughline/pkg/chstore"
	"github.com/throughline/throughline/schemas/chstoretest"
)

// engine is the process's one embedded engine (libchdb allows a single
// session); each test works in a database of its own.
var engine *chstore.Embedded

func TestMain(m *testing.M) { chstoretest.Main(m, &engine) }
