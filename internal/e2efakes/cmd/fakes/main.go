// Command fakes runs what the dashboard's end-to-end tests
// (frontend/e2e/setup.mjs, frontend/e2e/cloud.mjs, frontend/e2e/ubiregi.mjs)
// need outside regicam: an IP camera serving JPEG snapshots, the Smaregi
// Platform API, the Ubiregi API with its OAuth2 and the Safie API v2
// camera cloud, all fakes of this project.
//
//   - GET  /snapshot.jpg  a frame of the simulated camera (camera.NewSimulated):
//     its clock in digits and as the block code camera.DecodeTime reads back.
//   - POST /decode        a JPEG body (e.g. a thumbnail regicam cut) →
//     {"unixMs": …, "time": "…"}: the capture time drawn into it.
//   - POST /smaregi/ringup {"terminalId","total","staffName","receiptNo"?} →
//     {"id","atMs"}: a sale rung up now at the Smaregi fake
//     (pos/smaregi/fake), which regicam's poller then reads.
//   - the Ubiregi fake (pos/ubiregi/fake) on its own listener, the
//     "ubiregi" URL (its API is "ubiregiApi"), with its consent page
//     (許可する / 拒否する) and the OAuth2 client "ubiregiClient" /
//     "ubiregiSecret"; its one account "ubiregiAccount" is one register.
//   - POST /ubiregi/checkout {"total","cashierId"?} → {"id","guid","atMs"}: a
//     bill paid now at the Ubiregi fake (cashier 11 山田 or 12 佐藤), which
//     regicam's poller then reads (its guid is the receipt's レシートNo.).
//   - the Safie fake (camcloud/safie/fake) on its own listener, the
//     "safie" URL, accepting the API key "safieKey" and the OAuth2 client
//     "safieClient" / "safieSecret" (its consent page approves at once): two devices,
//     「レジ前カメラ」 (CC-2L_SF, serial 201000192) carrying the POS option
//     (item_id 5, so regicam runs with --safie-pos-item-id 5) and
//     「事務所カメラ」 without it. Its pictures of any recorded second are
//     drawn with that second's clock, so POST /decode reads it back.
//   - POST /safie/gap {"deviceId","fromMs","toMs"} → 204: the Safie fake
//     did not record that stretch (the timeline's 録画なし).
//   - POST /safie/event {"deviceId","type","atMs"} → 204: the Safie fake
//     logs a standard event (person, motion, connect, disconnect, sound).
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

	"github.com/regicam/regicam/camcloud/safie/fake"
	"github.com/regicam/regicam/camera"
	smaregi "github.com/regicam/regicam/pos/smaregi/fake"
	ubiregi "github.com/regicam/regicam/pos/ubiregi/fake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address of the camera and control endpoints")
	contract := flag.String("contract", "e2e_contract", "Smaregi fake contract id")
	client := flag.String("client", "e2e_client", "Smaregi fake client id")
	secret := flag.String("secret", "e2e-secret-0042", "Smaregi fake client secret")
	safieKey := flag.String("safie-key", "e2e-safie-key", "Safie fake API key")
	posItem := flag.Int("safie-pos-item", 5, "Safie item_id of the POS option the first device carries")
	ubiClient := flag.String("ubiregi-client", "e2e-ubiregi-client", "Ubiregi fake OAuth2 client id")
	ubiSecret := flag.String("ubiregi-secret", "e2e-ubiregi-secret-0042", "Ubiregi fake OAuth2 client secret")
	flag.Parse()

	fk := smaregi.New(smaregi.Options{ContractID: *contract, ClientID: *client, ClientSecret: *secret,
		Stores: []smaregi.Store{{ID: "1", Name: "渋谷店"}}})
	defer fk.Close()
	ub := ubiregi.New(ubiregi.Options{ClientID: *ubiClient, ClientSecret: *ubiSecret, AccountName: "E2E カフェ", Consent: true})
	defer ub.Shutdown()
	sf, stopSafie := fake.Start(fake.Options{APIKeys: []string{*safieKey}})
	defer stopSafie()
	sf.AddDevice(fake.Device{ID: "e2e-device-regi", Serial: "201000192", Name: "レジ前カメラ", Model: "CC-2L_SF", ItemIDs: []int{*posItem}, Streaming: true})
	sf.AddDevice(fake.Device{ID: "e2e-device-office", Serial: "201000193", Name: "事務所カメラ", Model: "CC-2L_SF", Streaming: true})
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
		id := fk.RingUp(smaregi.TransactionSpec{StoreID: "1", TerminalID: in.TerminalID, StaffName: in.StaffName,
			Total: in.Total, Cash: cash, Change: cash - in.Total, At: at, ServerAt: at, EnteredAt: at.Add(-3 * time.Minute),
			Items: []smaregi.Detail{{ProductName: "ブレンドコーヒー", Quantity: 1, SalesPrice: in.Total}}})
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "atMs": at.UnixMilli()})
	})

	mux.HandleFunc("POST /ubiregi/checkout", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Total     int64 `json:"total"`
			CashierID int64 `json:"cashierId"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Total <= 0 {
			http.Error(w, "want {total > 0, cashierId?}", http.StatusBadRequest)
			return
		}
		if in.CashierID == 0 {
			in.CashierID = 11
		}
		at := time.Now().Truncate(time.Second) // Ubiregi's times are whole seconds
		cash := (in.Total/1000 + 1) * 1000
		tax := in.Total / 11
		id := ub.Close(ubiregi.Checkout{PaidAt: at, CashierID: in.CashierID, CustomersCount: 1, Change: cash - in.Total,
			Items:    []ubiregi.Item{{MenuItemID: 101, Count: 1, Sales: in.Total - tax, Tax: tax}},
			Payments: []ubiregi.Payment{{PaymentTypeID: 1, Amount: cash}}})
		c, _ := ub.Checkout(id)
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "guid": c.GUID, "atMs": at.UnixMilli()})
	})

	mux.HandleFunc("POST /safie/gap", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			DeviceID     string `json:"deviceId"`
			FromMs, ToMs int64
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.DeviceID == "" || in.ToMs <= in.FromMs {
			http.Error(w, "want {deviceId, fromMs < toMs}", http.StatusBadRequest)
			return
		}
		if _, ok := sf.Device(in.DeviceID); !ok {
			http.Error(w, "no such device", http.StatusNotFound)
			return
		}
		sf.AddGap(in.DeviceID, time.UnixMilli(in.FromMs), time.UnixMilli(in.ToMs))
		w.WriteHeader(http.StatusNoContent)
	})

	mux.HandleFunc("POST /safie/event", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			DeviceID, Type string
			AtMs           int64
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.DeviceID == "" || in.Type == "" || in.AtMs <= 0 {
			http.Error(w, "want {deviceId, type, atMs}", http.StatusBadRequest)
			return
		}
		if _, ok := sf.Device(in.DeviceID); !ok {
			http.Error(w, "no such device", http.StatusNotFound)
			return
		}
		sf.AddEvent(in.DeviceID, in.Type, time.UnixMilli(in.AtMs))
		w.WriteHeader(http.StatusNoContent)
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
		"safie": sf.URL(), "safieKey": *safieKey, "safiePosItem": fmt.Sprint(*posItem),
		"safieClient": sf.ClientID(), "safieSecret": sf.ClientSecret(),
		"ubiregi": ub.URL(), "ubiregiApi": ub.APIBaseURL(), "ubiregiClient": ub.ClientID(), "ubiregiSecret": ub.ClientSecret(),
		"ubiregiAccount": ub.AccountID(),
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
