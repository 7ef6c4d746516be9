module github.com/throughline/throughline/services/console

go 1.26.0

require github.com/throughline/throughline/pkg v0.0.0

replace github.com/throughline/throughline/pkg => ../../pkg
