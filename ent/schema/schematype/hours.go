package schematype

// BusinessHours is a shop's opening time per weekday. Days are keyed by Go's
// time.Weekday (0 = Sunday). A missing day is closed. Open and Close are
// "HH:MM" in the shop's own timezone; Close before Open means the shop
// closes after midnight (a bar open 18:00–02:00).
type BusinessHours []DayHours

// DayHours is one weekday's opening span.
type DayHours struct {
	Weekday int    `json:"weekday"`
	Open    string `json:"open"`
	Close   string `json:"close"`
}
