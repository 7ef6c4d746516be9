module github.com/throughline/throughline/deploy

go 1.26.0

require (
	github.com/throughline/throughline/pkg v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/nyaruka/phonenumbers v1.8.1 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/throughline/throughline/pkg => ../pkg
