module github.com/throughline/throughline/services/alerter

go 1.26.0

require (
	github.com/rs/zerolog v1.35.1
	github.com/throughline/throughline/pkg v0.0.0
	github.com/throughline/throughline/services/stitcher v0.0.0-00010101000000-000000000000
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/metric v1.47.0
	go.uber.org/goleak v1.3.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/throughline/throughline/pkg => ../../pkg

replace github.com/throughline/throughline/schemas => ../../schemas

replace github.com/throughline/throughline/services/stitcher => ../stitcher
