module github.com/throughline/throughline/schemas

go 1.26.0
