package chhttp

import (
	"encoding/binary"
	"testing"
)

// FuzzNative: the Native walk never panics or reads past its input, and
// at revision 0 it gives back its input unchanged.
func FuzzNative(f *testing.F) {
	block := binary.AppendUvarint(nil, 2)
	block = binary.AppendUvarint(block, 1)
	block = append(block, 1, 'a', 6, 'S', 't', 'r', 'i', 'n', 'g', 1, 'x')
	block = append(block, 1, 'b', byte(len("LowCardinality(String)")))
	block = append(block, "LowCardinality(String)"...)
	block = binary.LittleEndian.AppendUint64(block, 1)    // key version
	block = binary.LittleEndian.AppendUint64(block, 1<<9) // UInt8 indexes, keys follow
	block = binary.LittleEndian.AppendUint64(block, 1)    // one key
	block = append(block, 1, 'k')                         // "k"
	block = binary.LittleEndian.AppendUint64(block, 1)    // one row
	block = append(block, 0)                              // index 0
	f.Add(block)
	f.Add([]byte{1, 1, 1, 'm', 18, 'M', 'a', 'p', '(', 'S', 't', 'r', 'i', 'n', 'g', ',', ' ', 'U', 'I', 'n', 't', '8', ')'})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := nativeAtRevision(b, 0)
		if err == nil && string(out) != string(b) {
			t.Fatalf("revision 0 changed the block")
		}
		nativeAtRevision(b, 54460)
	})
}

// FuzzStatement: splitting untrusted statements never panics (masking is
// fuzzed in pkg/sqlguard).
func FuzzStatement(f *testing.F) {
	for _, s := range []string{"INSERT INTO t FORMAT CSV\n1,2", "INSERT INTO t VALUES (1)", "SELECT 'FORMAT' -- FORMAT x\n", "/* unterminated", "'\\", "INSERT INTO t (a) SETTINGS x = 'FORMAT' FORMAT JSONEachRow {}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		splitInsert(s, nil)
		outputFormat(s)
		splitSettings(s)
		parseAST(s)
		parseType(s)
	})
}
