package chstore

import (
	"encoding/binary"
	"fmt"
)

// TypedBatch is a Batch that also takes rows value by value, each through a
// method of its type, so a hot path appends millions of values without
// boxing each in an interface and checking its type at run time. The
// embedded store's batches are TypedBatches; a caller falls back to Append
// where a batch is not.
type TypedBatch interface {
	Batch
	// Row starts a row. Its values follow in column order, one method call
	// each; End finishes it. A call that does not fit its column's type is
	// a bug of the caller: it spoils the batch, whose Send then fails.
	Row() *RowWriter
}

// RowWriter writes one row of a TypedBatch, column by column.
type RowWriter struct {
	b   *embeddedBatch
	col int
}

func (b *embeddedBatch) Row() *RowWriter {
	b.row.b, b.row.col = b, 0
	return &b.row
}

// next is the column the next value goes to, or nil (and the batch spoilt)
// when the row has no more columns.
func (w *RowWriter) next() nativeColumn {
	if w.col >= len(w.b.native) {
		w.spoil("more values than columns")
		return nil
	}
	w.col++
	return w.b.native[w.col-1]
}

func (w *RowWriter) spoil(what string) {
	if w.b.spoilt == nil {
		name := "?"
		if w.col > 0 && w.col <= len(w.b.cols) {
			name = w.b.cols[w.col-1].Name
		}
		w.b.spoilt = fmt.Errorf("appending to %s, column %s: %s", w.b.table, name, what)
	}
}

// String writes a String (or LowCardinality(String)) value.
func (w *RowWriter) String(s string) {
	if c, ok := w.next().(*stringColumn); ok {
		c.buf.appendString(s)
		return
	}
	w.spoil("not a String column")
}

// UInt writes an integer of any width (UInt8…UInt64, Int8…Int64, Bool as
// 0/1): the column's width takes the low bytes, two's complement.
func (w *RowWriter) UInt(v uint64) {
	if c, ok := w.next().(*fixedColumn); ok && c.scale < 0 && !c.nonInteger {
		c.appendFixed(v)
		return
	}
	w.spoil("not an integer column")
}

// DateTime64Milli writes a DateTime64 value given in Unix milliseconds.
func (w *RowWriter) DateTime64Milli(ms int64) {
	if c, ok := w.next().(*fixedColumn); ok && c.scale >= 0 {
		c.appendFixed(uint64(ms * c.milliTicks))
		return
	}
	w.spoil("not a DateTime64 column with a scale of 3 or more")
}

// StringMap writes a Map(String, String) value (nil: an empty map).
func (w *RowWriter) StringMap(m map[string]string) {
	if c, ok := w.next().(*mapColumn); ok {
		for k, v := range m {
			c.keys.buf.appendString(k)
			c.vals.buf.appendString(v)
		}
		c.n += uint64(len(m))
		c.offsets = binary.LittleEndian.AppendUint64(c.offsets, c.n)
		return
	}
	w.spoil("not a Map(String, String) column")
}

// End finishes the row.
func (w *RowWriter) End() {
	if w.col != len(w.b.native) {
		w.spoil(fmt.Sprintf("%d values for %d columns", w.col, len(w.b.native)))
		return
	}
	w.b.rows++
}

func (c *fixedColumn) appendFixed(n uint64) {
	switch c.size {
	case 1:
		c.buf = append(c.buf, byte(n))
	case 2:
		c.buf = binary.LittleEndian.AppendUint16(c.buf, uint16(n))
	case 4:
		c.buf = binary.LittleEndian.AppendUint32(c.buf, uint32(n))
	default:
		c.buf = binary.LittleEndian.AppendUint64(c.buf, n)
	}
}
