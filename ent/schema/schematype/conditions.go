package schematype

// RuleConditions is what a rule of the rule builder asks of an entry (or of
// a window of entries); every condition set must hold (AND). A nil or zero
// field is no condition. Package alerts/builder validates and evaluates it;
// the fields are its contract with the stored rows and the GraphQL input.
type RuleConditions struct {
	// Entry kinds that count: PAYMENT, CANCEL, MODIFY, DELETE, OTHER.
	Kinds []string `json:"kinds,omitempty"`
	// Size of the total in yen (a −¥5,000 cancel is ¥5,000), inclusive
	// bounds; AMOUNT_OVER "over N" is AmountMin N+1.
	AmountMin *int64 `json:"amountMin,omitempty"`
	AmountMax *int64 `json:"amountMax,omitempty"`
	// A line item matching all of these exists on the entry (one item
	// meets every part, not one part per item).
	Item *ItemCondition `json:"item,omitempty"`
	// Payment method contains one of these (case- and width-folded).
	PaymentMethods []string `json:"paymentMethods,omitempty"`
	// Staff names or ids (exact); an entry matches by either.
	Staff []string `json:"staff,omitempty"`
	// Shops and terminals (ids).
	ShopIDs     []string `json:"shopIds,omitempty"`
	TerminalIDs []string `json:"terminalIds,omitempty"`
	// Seconds between 入店 (entered_at) and the entry, inclusive bounds; an
	// entry without 入店 time does not match.
	StaySecondsMin *int `json:"staySecondsMin,omitempty"`
	StaySecondsMax *int `json:"staySecondsMax,omitempty"`
	// Local time of day in the shop's timezone, "HH:MM", from inclusive
	// to exclusive to the minute; from after to spans midnight (22:00–06:00
	// holds 05:59, not 06:00); both or neither; equal is refused.
	TimeFrom string `json:"timeFrom,omitempty"`
	TimeTo   string `json:"timeTo,omitempty"`
	// Days of the week in the shop's timezone, 0 = Sunday.
	Weekdays []int `json:"weekdays,omitempty"`
	// Outside the shop's business hours (the OUTSIDE_HOURS preset).
	OutsideHours bool `json:"outsideHours,omitempty"`
	// The entry's terminal has no camera linked (UNLINKED_TERMINAL preset).
	UnlinkedTerminal bool `json:"unlinkedTerminal,omitempty"`
	// Window rules, at most one per rule: Burst = at least Count entries
	// meeting the other conditions by one staff within (t−WindowSeconds, t],
	// one alert per window (CANCEL_BURST); QuickCancel = a cancel by its
	// sale's staff within WindowSeconds (inclusive) of the sale, Count unused
	// (QUICK_CANCEL).
	Burst       *WindowCondition `json:"burst,omitempty"`
	QuickCancel *WindowCondition `json:"quickCancel,omitempty"`
	// Silence fires on the absence of entries rather than on one: a
	// terminal in the rule's shops and terminals that sent nothing for a
	// while during opening hours (the FEED_SILENT preset). Only the scope
	// and the hours go with it: TimeFrom–TimeTo are then the hours (as
	// FEED_SILENT's opensAt–closesAt), and without them the shop's own
	// business hours apply. Package alerts' silence checker decides it,
	// never an ingested entry.
	Silence *SilenceCondition `json:"silence,omitempty"`
}

// SilenceCondition is how long a terminal may stay quiet while open.
type SilenceCondition struct {
	// WindowSeconds of quiet that fire; 0 learns what is usual per
	// terminal (three times its mean gap over the last week, 10 min–4 h).
	WindowSeconds int `json:"windowSeconds,omitempty"`
}

// ItemCondition matches one line item.
type ItemCondition struct {
	NameContains  string `json:"nameContains,omitempty"`
	QuantityMin   *int   `json:"quantityMin,omitempty"`
	QuantityMax   *int   `json:"quantityMax,omitempty"`
	LineAmountMin *int64 `json:"lineAmountMin,omitempty"`
	LineAmountMax *int64 `json:"lineAmountMax,omitempty"`
}

// WindowCondition is a count of entries within a time window.
type WindowCondition struct {
	Count         int `json:"count,omitempty"`
	WindowSeconds int `json:"windowSeconds"`
}
