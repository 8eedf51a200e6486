package setup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/regicam/regicam/ent/schema/schematype"
)

// File is a setup.yaml: what an account should have. Keys are named like
// the GraphQL inputs, so an error's field (shops[1].timezone) reads the
// same in both.
type File struct {
	// Account names the account (as `regicam user create --account`);
	// empty: the oldest one. --account wins over it.
	Account     string       `yaml:"account"`
	Shops       []Shop       `yaml:"shops"`
	Cameras     []Camera     `yaml:"cameras"`
	Connections []Connection `yaml:"connections"`
}

// Shop is found by name.
type Shop struct {
	Name          string `yaml:"name"`
	Timezone      string `yaml:"timezone"`
	BusinessHours []Day  `yaml:"businessHours"`
}

// Day is one weekday's hours; 0 = Sunday … 6 = Saturday.
type Day struct {
	Weekday int    `yaml:"weekday"`
	Open    string `yaml:"open"`
	Close   string `yaml:"close"`
}

// Camera is found by device id.
type Camera struct {
	Name      string  `yaml:"name"`
	Model     string  `yaml:"model"`
	DeviceID  string  `yaml:"deviceID"`
	PosOption *bool   `yaml:"posOption"`
	Source    *Source `yaml:"source"`
	// RequireSourceOK refuses to create the camera when one frame cannot be
	// fetched now (otherwise it is saved with the failure as its status).
	RequireSourceOK bool `yaml:"requireSourceOK"`
}

// Source is where the server reads the camera's picture. The password is
// best kept out of the file: passwordEnv names an environment variable
// that holds it.
type Source struct {
	Kind        string `yaml:"kind"`
	URL         string `yaml:"url"`
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"passwordEnv"`
}

// Connection is a card-terminal (WEBHOOK) or partner (PARTNER) connection,
// found by name.
type Connection struct {
	Name     string `yaml:"name"`
	Provider string `yaml:"provider"`
	// Shop names the shop registers a webhook names first join.
	Shop      string     `yaml:"shop"`
	Terminals []Terminal `yaml:"terminals"`
}

// Terminal is a register of the connection, found by its external id.
type Terminal struct {
	ExternalID string `yaml:"externalID"`
	Name       string `yaml:"name"`
	// Shop names the register's shop; empty: the connection's.
	Shop string `yaml:"shop"`
	// Camera is the device id of the camera that watches the register;
	// empty: not linked by setup.
	Camera string `yaml:"camera"`
}

// Hours converts the file's days for the shop service.
func (s Shop) Hours() *schematype.BusinessHours {
	if s.BusinessHours == nil {
		return nil
	}
	h := make(schematype.BusinessHours, len(s.BusinessHours))
	for i, d := range s.BusinessHours {
		h[i] = schematype.DayHours{Weekday: d.Weekday, Open: d.Open, Close: d.Close}
	}
	return &h
}

// Parse reads a setup file. Unknown keys are refused (a misspelt key
// would otherwise be dropped without a word), and so is anything after
// the first document.
func Parse(r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("only one YAML document is read; remove the second (---)")
	}
	return &f, f.check()
}

// check finds what is wrong in the file alone, before anything is
// written: missing names, duplicates, references to nothing in the file
// (references to what the database already has are checked by Apply).
func (f *File) check() error {
	shops := map[string]string{}
	for i, s := range f.Shops {
		at := fmt.Sprintf("shops[%d]", i)
		if strings.TrimSpace(s.Name) == "" {
			return fieldErr(at+".name", "店舗名がありません (name is required)")
		}
		if prev, dup := shops[strings.TrimSpace(s.Name)]; dup {
			return fieldErr(at+".name", "店舗「%s」は %s にもあります (listed twice)", s.Name, prev)
		}
		shops[strings.TrimSpace(s.Name)] = at
	}
	devices := map[string]string{}
	for i, c := range f.Cameras {
		at := fmt.Sprintf("cameras[%d]", i)
		d := strings.TrimSpace(c.DeviceID)
		if d == "" {
			return fieldErr(at+".deviceID", "デバイス ID がありません (deviceID is required: setup finds cameras by it)")
		}
		if prev, dup := devices[d]; dup {
			return fieldErr(at+".deviceID", "デバイス ID %s は %s にもあります (listed twice)", d, prev)
		}
		devices[d] = at
		if c.Source != nil && c.Source.Password != "" && c.Source.PasswordEnv != "" {
			return fieldErr(at+".source.passwordEnv", "password と passwordEnv はどちらか一方だけにしてください (give one of password, passwordEnv)")
		}
	}
	conns := map[string]string{}
	for i, c := range f.Connections {
		at := fmt.Sprintf("connections[%d]", i)
		if strings.TrimSpace(c.Name) == "" {
			return fieldErr(at+".name", "連携名がありません (name is required)")
		}
		if prev, dup := conns[strings.TrimSpace(c.Name)]; dup {
			return fieldErr(at+".name", "連携「%s」は %s にもあります (listed twice)", c.Name, prev)
		}
		conns[strings.TrimSpace(c.Name)] = at
		if p := strings.ToUpper(c.Provider); p != "WEBHOOK" && p != "PARTNER" {
			return fieldErr(at+".provider", "provider は WEBHOOK (カード端末) か PARTNER です (provider must be WEBHOOK or PARTNER, not %q)", c.Provider)
		}
		if strings.TrimSpace(c.Shop) == "" {
			return fieldErr(at+".shop", "新しい端末が入る店舗の名前がありません (shop is required)")
		}
		terms := map[string]string{}
		for j, t := range c.Terminals {
			tat := fmt.Sprintf("%s.terminals[%d]", at, j)
			ext := strings.TrimSpace(t.ExternalID)
			if ext == "" {
				return fieldErr(tat+".externalID", "端末IDがありません (externalID is required)")
			}
			if prev, dup := terms[ext]; dup {
				return fieldErr(tat+".externalID", "端末ID %s は %s にもあります (listed twice)", ext, prev)
			}
			terms[ext] = tat
		}
	}
	return nil
}

// FieldError is a mistake in the file, at a path such as
// connections[0].terminals[2].camera.
type FieldError struct {
	Path, Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Message: fmt.Sprintf(format, args...)}
}
