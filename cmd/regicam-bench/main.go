// Command regicam-bench loads a realistic chain into PostgreSQL and measures
// regicam against raw SQL and the peer (README, Performance). It is its own
// binary so the product does not ship the harness.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/regicam/regicam/app"
	"github.com/regicam/regicam/bench/harness"
)

func main() { os.Exit(benchCommand(os.Args[1:])) }

// benchCommand runs `regicam-bench seed|run`: the performance dataset and
// the load harness of the README's Performance section.
func benchCommand(args []string) int {
	usage := func() int {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/regicam-bench seed --database-url postgres://… --size 10M\n"+
			"       go run ./cmd/regicam-bench run  --database-url postgres://… [--json out.json] [--peer=auto|on|off] [--quick]")
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app.TuneGC() // the in-process and child servers run as `regicam` does
	switch args[0] {
	case "seed":
		fs := flag.NewFlagSet("bench seed", flag.ContinueOnError)
		dsn := fs.String("database-url", os.Getenv("REGICAM_DATABASE_URL"), "PostgreSQL database to fill (created if missing)")
		size := fs.String("size", "1M", "journal entries to hold, e.g. 50k, 1M, 10M")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		n, err := harness.ParseSize(*size)
		if err != nil || *dsn == "" {
			fmt.Fprintln(os.Stderr, "regicam-bench seed: --database-url and a valid --size are required:", err)
			return 2
		}
		began := time.Now()
		ds, err := harness.Seed(ctx, *dsn, n, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "regicam-bench seed:", err)
			return 1
		}
		fmt.Printf("seeded: %d entries in account %s, camera %s (%v)\n", ds.Rows, ds.AccountID, ds.CameraID, time.Since(began).Round(time.Second))
		return 0
	case "child": // started by `bench run` itself (subscribers, S2 servers)
		return harness.ChildMain()
	case "run":
		opts, err := harness.ParseRunFlags(args[1:])
		if err != nil {
			fmt.Fprintln(os.Stderr, "regicam-bench run:", err)
			return 2
		}
		if err := harness.Run(ctx, opts, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "regicam-bench run:", err)
			return 1
		}
		return 0
	}
	return usage()
}
