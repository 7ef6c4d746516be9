module github.com/throughline/throughline/services/alerter

go 1.26.0

require (
	github.com/throughline/throughline/pkg v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

replace github.com/throughline/throughline/pkg => ../../pkg

replace github.com/throughline/throughline/schemas => ../../schemas

replace github.com/throughline/throughline/services/stitcher => ../stitcher
