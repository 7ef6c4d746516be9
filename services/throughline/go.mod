module github.com/throughline/throughline/services/throughline

go 1.26.0

require github.com/throughline/throughline/pkg v0.0.0

replace github.com/throughline/throughline/pkg => ../../pkg

require (
	github.com/throughline/throughline/schemas v0.0.0
	github.com/throughline/throughline/services/collector v0.0.0
	github.com/throughline/throughline/services/loader v0.0.0
	github.com/throughline/throughline/services/console v0.0.0
)

replace (
	github.com/throughline/throughline/schemas => ../../schemas
	github.com/throughline/throughline/services/collector => ../collector
	github.com/throughline/throughline/services/loader => ../loader
	github.com/throughline/throughline/services/console => ../console
)
