package journal

import "entgo.io/ent/dialect/sql"

func sqlDesc() sql.OrderTermOption { return sql.OrderDesc() }
