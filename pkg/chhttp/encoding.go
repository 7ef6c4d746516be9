package chhttp

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression as ClickHouse's HTTP interface does it, both ways:
//
//   - HTTP content coding: a request body in Content-Encoding gzip, deflate,
//     br, zstd or lz4 is decoded; an answer is encoded when the client asks
//     with enable_http_compression=1 and Accept-Encoding.
//   - ClickHouse's own block compression (compress=1 for the answer,
//     decompress=1 for the request body; LZ4 or ZSTD by
//     network_compression_method), which clickhouse-go uses with LZ4/ZSTD.

// contentCodings are the codings served, in the order preferred when a
// client accepts several.
var contentCodings = []string{"gzip", "deflate", "br", "zstd", "lz4"}

// readBody reads at most limit bytes of the request body, undoing its
// content coding and, with decompress=1, ClickHouse's block compression.
func readBody(r *http.Request, limit int64, blockCompressed bool) ([]byte, error) {
	var body io.Reader = io.LimitReader(r.Body, limit+1)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity", "none":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, exception(codeCannotDecompress, "Cannot decompress the request body (gzip): %v", err)
		}
		body = zr
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return nil, exception(codeCannotDecompress, "Cannot decompress the request body (deflate): %v", err)
		}
		body = zr
	case "br":
		body = brotli.NewReader(body)
	case "zstd":
		zr, err := zstd.NewReader(body, zstd.WithDecoderMaxMemory(uint64(limit)+1))
		if err != nil {
			return nil, exception(codeCannotDecompress, "Cannot decompress the request body (zstd): %v", err)
		}
		defer zr.Close()
		body = zr
	case "lz4":
		body = lz4.NewReader(body)
	default:
		return nil, exception(codeNotImplemented, "Unknown Content-Encoding %q: gzip, deflate, br, zstd and lz4 are served", enc)
	}
	if blockCompressed {
		body = blockReader{compress.NewReader(body)}
	}
	// The decoded size is bounded too: a small compressed body may expand.
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, exception(codeCannotDecompress, "Cannot read the request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

var errBodyTooLarge = errors.New("request body too large")

// answerCoding picks how an answer is encoded: "native/lz4" or
// "native/zstd" for block compression, a content coding, or "".
func answerCoding(r *http.Request, p params) string {
	if p.flag("compress") {
		switch strings.ToUpper(p.get("network_compression_method")) {
		case "ZSTD":
			return "native/zstd"
		case "NONE":
			return "native/none"
		}
		return "native/lz4"
	}
	if !p.flag("enable_http_compression") {
		return ""
	}
	accepted := map[string]bool{}
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(q) == "q=0" {
			continue
		}
		accepted[strings.ToLower(strings.TrimSpace(name))] = true
	}
	for _, c := range contentCodings {
		if accepted[c] {
			return c
		}
	}
	return ""
}

// nativeBlockSize is the most uncompressed bytes in one compressed block
// (ClickHouse's max_compress_block_size).
const nativeBlockSize = 1 << 20

// encodeAnswer encodes data for coding (see answerCoding).
func encodeAnswer(data []byte, coding string) ([]byte, error) {
	var buf bytes.Buffer
	switch coding {
	case "":
		return data, nil
	case "native/lz4", "native/zstd", "native/none":
		m := map[string]compress.Method{"native/lz4": compress.LZ4, "native/zstd": compress.ZSTD, "native/none": compress.None}[coding]
		w := compress.NewWriter(compress.LevelZero, m)
		for len(data) > 0 {
			n := min(len(data), nativeBlockSize)
			if err := w.Compress(data[:n]); err != nil {
				return nil, fmt.Errorf("compressing answer: %w", err)
			}
			buf.Write(w.Data)
			data = data[n:]
		}
		return buf.Bytes(), nil
	}
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			return nil, err
		}
		w = zw
	case "lz4":
		w = lz4.NewWriter(&buf)
	default:
		return nil, fmt.Errorf("unknown coding %q", coding)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockReader ends cleanly where the body ends between two compressed
// blocks: ch-go's reader reports that as an error wrapping io.EOF (a body
// cut inside a block is io.ErrUnexpectedEOF and stays an error).
type blockReader struct{ r io.Reader }

func (b blockReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
