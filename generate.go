package main

// One entry point for all generated code: ent (with the entgql schema) first,
// then gqlgen, which reads what ent wrote.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run -mod=mod github.com/99designs/gqlgen generate
