// Package schematype holds value types stored inside ent rows as JSON.
package schematype

// Item is one line of a receipt. Amount is integer yen for the whole line.
type Item struct {
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
	Amount   int64  `json:"amount"`
}
