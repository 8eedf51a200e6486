package setup

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/regicam/regicam/apperr"
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/ent"
	entcamera "github.com/regicam/regicam/ent/camera"
	"github.com/regicam/regicam/ent/link"
	"github.com/regicam/regicam/ent/posconnection"
	entshop "github.com/regicam/regicam/ent/shop"
	"github.com/regicam/regicam/ent/terminal"
	"github.com/regicam/regicam/portal"
	"github.com/regicam/regicam/pulid"
	"github.com/regicam/regicam/shop"
	"github.com/regicam/regicam/viewer"
)

// Services are what Apply creates things with: the same services the
// GraphQL mutations call, so the file is held to the same rules.
type Services struct {
	Client  *ent.Client
	Shops   *shop.Service
	Cameras *registry.Service
	Portal  *portal.Service
	// Getenv reads source.passwordEnv.
	Getenv func(string) string
	// PublicURL is put before webhook paths in what is printed.
	PublicURL string
}

// Result counts what Apply did.
type Result struct {
	Created, Existing int
}

// Apply makes the viewer's account hold what f describes. It only adds:
// shops (by name), cameras (by device id), connections (by name),
// registers (by external id) and links that are missing are created; what
// exists is left as it is, and where it differs from the file a note says
// so. A second run therefore changes nothing. Each step is printed to out;
// a new connection's signing key is printed there, once. The first error
// stops the run (what was created before it stays, and the next run goes
// on from there); a mistake in the file names its path.
func Apply(ctx context.Context, s Services, f *File, out io.Writer) (Result, error) {
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return Result{}, fmt.Errorf("setup: no account in context")
	}
	a := &applier{Services: s, ctx: ctx, acct: v.AccountID, out: out,
		shops: map[string]*ent.Shop{}, cameras: map[string]*ent.Camera{}}
	for i, sh := range f.Shops {
		if err := a.shop(fmt.Sprintf("shops[%d]", i), sh); err != nil {
			return a.res, err
		}
	}
	for i, c := range f.Cameras {
		if err := a.camera(fmt.Sprintf("cameras[%d]", i), c); err != nil {
			return a.res, err
		}
	}
	for i, c := range f.Connections {
		if err := a.connection(fmt.Sprintf("connections[%d]", i), c); err != nil {
			return a.res, err
		}
	}
	return a.res, nil
}

type applier struct {
	Services
	ctx     context.Context
	acct    pulid.ID
	out     io.Writer
	res     Result
	shops   map[string]*ent.Shop   // by name
	cameras map[string]*ent.Camera // by device id
}

func (a *applier) created(format string, args ...any) {
	a.res.Created++
	fmt.Fprintf(a.out, format+"\n", args...)
}

func (a *applier) exists(format string, args ...any) {
	a.res.Existing++
	fmt.Fprintf(a.out, format+"\n", args...)
}

func (a *applier) note(format string, args ...any) {
	fmt.Fprintf(a.out, "  note: "+format+"\n", args...)
}

// at moves a service's field error (input.timezone) to the file's path
// (shops[1].timezone).
func at(err error, path string) error {
	e, ok := apperr.As(err)
	if !ok {
		return fmt.Errorf("%s: %w", path, err)
	}
	if f := strings.TrimPrefix(strings.TrimPrefix(e.Field, "input"), "."); f != "" {
		path += "." + f
	}
	return &FieldError{Path: path, Message: e.Message}
}

func (a *applier) shop(path string, in Shop) error {
	name := strings.TrimSpace(in.Name)
	cur, err := a.findShop(path+".name", name)
	if err != nil {
		return err
	}
	if cur == nil {
		tz := &in.Timezone
		if in.Timezone == "" {
			tz = nil
		}
		created, err := a.Shops.Create(a.ctx, shop.Input{Name: &name, Timezone: tz, Hours: in.Hours()})
		if err != nil {
			return at(err, path)
		}
		a.shops[name] = created
		a.created("shop %s: created (%s, %s, 営業時間 %s)", name, created.ID, created.Timezone, shop.FormatHours(created.BusinessHours))
		return nil
	}
	a.exists("shop %s: exists (%s)", name, cur.ID)
	if in.Timezone != "" && in.Timezone != cur.Timezone {
		a.note("timezone is %s, the file says %s; setup does not change existing shops (updateShop, 設定 › 店舗)", cur.Timezone, in.Timezone)
	}
	if h := in.Hours(); h != nil {
		want, err := shop.CheckHours("input.businessHours", *h)
		if err != nil {
			return at(err, path)
		}
		if shop.FormatHours(want) != shop.FormatHours(cur.BusinessHours) {
			a.note("営業時間 is %s, the file says %s; not changed", shop.FormatHours(cur.BusinessHours), shop.FormatHours(want))
		}
	}
	return nil
}

// findShop returns the account's shop of that name, nil when there is
// none.
func (a *applier) findShop(path, name string) (*ent.Shop, error) {
	if s, ok := a.shops[name]; ok {
		return s, nil
	}
	found, err := a.Client.Shop.Query().Where(entshop.AccountID(a.acct), entshop.Name(name)).All(a.ctx)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		a.shops[name] = found[0]
		return found[0], nil
	}
	return nil, &FieldError{Path: path, Message: fmt.Sprintf("店舗「%s」が %d 件あり、どれか決められません。管理画面で名前を変えてください (%d shops have this name)", name, len(found), len(found))}
}

func (a *applier) camera(path string, in Camera) error {
	device := strings.TrimSpace(in.DeviceID)
	cur, err := a.findCamera(device)
	if err != nil {
		return err
	}
	if cur != nil {
		a.exists("camera %s: exists (%s)", registry.Label(cur), cur.ID)
		if cur.RetiredAt != nil {
			a.note("this camera is retired; setup does not bring it back")
		}
		if in.Name != "" && strings.TrimSpace(in.Name) != cur.Name {
			a.note("its name is %s, the file says %s; setup does not change existing cameras (updateCamera, 設定 › カメラ)", cur.Name, in.Name)
		}
		return nil
	}
	ci := registry.Input{Name: in.Name, Model: in.Model, DeviceID: device, PosOption: in.PosOption, RequireSourceOK: in.RequireSourceOK}
	if src := in.Source; src != nil {
		rs := registry.Source{Kind: entcamera.SourceKind(strings.ToUpper(src.Kind)), URL: src.URL}
		if src.Username != "" {
			rs.Username = &src.Username
		}
		pw := src.Password
		if src.PasswordEnv != "" {
			if pw = a.Getenv(src.PasswordEnv); pw == "" {
				return &FieldError{Path: path + ".source.passwordEnv", Message: fmt.Sprintf("環境変数 %s が空です (environment variable %s is not set)", src.PasswordEnv, src.PasswordEnv)}
			}
		}
		if pw != "" {
			rs.Password = &pw
		}
		ci.Source = &rs
	}
	c, err := a.Cameras.Create(a.ctx, a.acct, ci)
	if err != nil {
		return at(err, path)
	}
	a.cameras[device] = c
	status := ""
	if c.SourceStatus != "" {
		status = ", source " + c.SourceStatus
	}
	a.created("camera %s: created (%s%s)", registry.Label(c), c.ID, status)
	return nil
}

func (a *applier) findCamera(device string) (*ent.Camera, error) {
	if c, ok := a.cameras[device]; ok {
		return c, nil
	}
	c, err := a.Client.Camera.Query().Where(entcamera.AccountID(a.acct), entcamera.DeviceID(device)).Only(a.ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.cameras[device] = c
	return c, nil
}

func (a *applier) connection(path string, in Connection) error {
	name := strings.TrimSpace(in.Name)
	provider := posconnection.Provider(strings.ToUpper(in.Provider))
	home, err := a.findShop(path+".shop", strings.TrimSpace(in.Shop))
	if err != nil {
		return err
	}
	if home == nil {
		return &FieldError{Path: path + ".shop", Message: fmt.Sprintf("店舗「%s」がありません。shops に加えてください (no shop of that name)", in.Shop)}
	}
	conn, err := a.Client.PosConnection.Query().Where(posconnection.AccountID(a.acct),
		posconnection.ProviderIn(posconnection.ProviderWEBHOOK, posconnection.ProviderPARTNER), posconnection.Name(name)).Only(a.ctx)
	switch {
	case err == nil:
		a.exists("connection %s (%s): exists (%s)", name, conn.Provider, conn.ID)
		if conn.Provider != provider {
			a.note("it is a %s connection, the file says %s; not changed", conn.Provider, provider)
		}
	case ent.IsNotFound(err):
		var ep *portal.Endpoint
		conn, ep, err = a.Portal.CreateConnection(a.ctx, portal.NewConnection{Provider: provider, Name: name, ShopID: home.ID})
		if err != nil {
			return at(err, path)
		}
		a.created("connection %s (%s): created (%s), new registers join %s", name, provider, conn.ID, home.Name)
		fmt.Fprintf(a.out, "  webhook URL: %s%s\n", strings.TrimRight(a.PublicURL, "/"), ep.Path)
		fmt.Fprintf(a.out, "  signing key: %s\n", ep.Secret)
		fmt.Fprintln(a.out, "  (the signing key is shown only now; createWebhookSecret or 連携設定 issues a new one)")
	default:
		return err
	}
	for j, t := range in.Terminals {
		if err := a.terminal(fmt.Sprintf("%s.terminals[%d]", path, j), conn, home, t); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) terminal(path string, conn *ent.PosConnection, home *ent.Shop, in Terminal) error {
	ext := strings.TrimSpace(in.ExternalID)
	where := home
	if in.Shop != "" {
		s, err := a.findShop(path+".shop", strings.TrimSpace(in.Shop))
		if err != nil {
			return err
		}
		if s == nil {
			return &FieldError{Path: path + ".shop", Message: fmt.Sprintf("店舗「%s」がありません。shops に加えてください (no shop of that name)", in.Shop)}
		}
		where = s
	}
	t, err := a.Client.Terminal.Query().Where(terminal.ConnectionID(conn.ID), terminal.ExternalID(ext)).Only(a.ctx)
	switch {
	case err == nil:
		a.exists("terminal %s of %s: exists (%s)", ext, conn.Name, t.ID)
		if t.ShopID != where.ID {
			a.note("it is in another shop than %s; not moved", where.Name)
		}
	case ent.IsNotFound(err):
		if t, err = a.Portal.CreateTerminal(a.ctx, portal.NewTerminal{ConnectionID: conn.ID, ExternalID: ext, Name: in.Name, ShopID: where.ID}); err != nil {
			return at(err, path)
		}
		a.created("terminal %s of %s: created (%s) in %s", ext, conn.Name, t.ID, where.Name)
	default:
		return err
	}
	if in.Camera == "" {
		return nil
	}
	cam, err := a.findCamera(strings.TrimSpace(in.Camera))
	if err != nil {
		return err
	}
	if cam == nil {
		return &FieldError{Path: path + ".camera", Message: fmt.Sprintf("デバイス ID %s のカメラがありません。cameras に加えてください (no camera with that device id)", in.Camera)}
	}
	cur, err := a.Client.Link.Query().Where(link.TerminalID(t.ID), link.EndedAtIsNil()).WithCamera().Only(a.ctx)
	switch {
	case err == nil && cur.CameraID == cam.ID:
		a.exists("link %s → %s: exists", ext, registry.Label(cam))
	case err == nil:
		a.exists("link %s: watched by %s", ext, registry.Label(cur.Edges.Camera))
		a.note("the file says %s; setup does not move registers (rebindTerminal, 連携設定)", registry.Label(cam))
	case ent.IsNotFound(err):
		if _, err := a.Portal.LinkTerminal(a.ctx, t.ID, cam.ID); err != nil {
			if e, ok := apperr.As(err); ok { // about the camera named here
				return &FieldError{Path: path + ".camera", Message: e.Message}
			}
			return err
		}
		a.created("link %s → %s: created", ext, registry.Label(cam))
	default:
		return err
	}
	return nil
}
