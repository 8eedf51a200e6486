// Command fakes runs what the dashboard's first-use end-to-end test
// (frontend/e2e/setup.mjs) needs outside regicam: an IP camera serving
// JPEG snapshots and the Smaregi Platform API, both fakes of this project.
//
//   - GET  /snapshot.jpg  a frame of the simulated camera (camera.NewSimulated):
//     its clock in digits and as the block code camera.DecodeTime reads back.
//   - POST /decode        a JPEG body (e.g. a thumbnail regicam cut) →
//     {"unixMs": …, "time": "…"}: the capture time drawn into it.
//   - POST /smaregi/ringup {"terminalId","total","staffName","receiptNo"?} →
//     {"id","atMs"}: a sale rung up now at the Smaregi fake
//     (pos/smaregi/fake), which regicam's poller then reads.
//
// It prints one JSON line with its URLs and the fake contract's
// credentials, then serves until stdin closes or SIGTERM:
//
//	go run ./internal/e2efakes/cmd/fakes
//	{"control":"http://127.0.0.1:41234","snapshot":"http://127.0.0.1:41234/snapshot.jpg","smaregi":"http://127.0.0.1:41235",…}
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/regicam/regicam/camera"
	"github.com/regicam/regicam/pos/smaregi/fake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address of the camera and control endpoints")
	contract := flag.String("contract", "e2e_contract", "Smaregi fake contract id")
	client := flag.String("client", "e2e_client", "Smaregi fake client id")
	secret := flag.String("secret", "e2e-secret-0042", "Smaregi fake client secret")
	flag.Parse()

	fk := fake.New(fake.Options{ContractID: *contract, ClientID: *client, ClientSecret: *secret,
		Stores: []fake.Store{{ID: "1", Name: "渋谷店"}}})
	defer fk.Close()
	cam := camera.NewSimulated("E2E CAMERA", nil)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot.jpg", func(w http.ResponseWriter, r *http.Request) {
		f, err := cam.Grab(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(f.JPEG)
	})
	mux.HandleFunc("POST /decode", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		t, err := camera.DecodeTime(b)
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"unixMs": t.UnixMilli(), "time": t.UTC().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("POST /smaregi/ringup", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			TerminalID string `json:"terminalId"`
			Total      int64  `json:"total"`
			StaffName  string `json:"staffName"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TerminalID == "" || in.Total <= 0 {
			http.Error(w, "want {terminalId, total > 0, staffName}", http.StatusBadRequest)
			return
		}
		at := time.Now().Truncate(time.Second) // Smaregi's times are whole seconds
		cash := (in.Total/1000 + 1) * 1000
		id := fk.RingUp(fake.TransactionSpec{StoreID: "1", TerminalID: in.TerminalID, StaffName: in.StaffName,
			Total: in.Total, Cash: cash, Change: cash - in.Total, At: at, ServerAt: at, EnteredAt: at.Add(-3 * time.Minute),
			Items: []fake.Detail{{ProductName: "ブレンドコーヒー", Quantity: 1, SalesPrice: in.Total}}})
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "atMs": at.UnixMilli()})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	line, _ := json.Marshal(map[string]string{
		"control": base, "snapshot": base + "/snapshot.jpg", "smaregi": fk.URL(),
		"contract": *contract, "client": *client, "secret": *secret,
	})
	fmt.Println(string(line))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }() // the test ends: stdin closes
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
