package server

import (
	"github.com/regicam/regicam/camera/registry"
	"github.com/regicam/regicam/netguard"
)

// startCameras applies the camera URL policy to the recorders' fetches and
// builds the camera registry over them, so a camera added or retired is
// recorded or dropped at once rather than at the next periodic sync.
func (a *App) startCameras(cfg Config) {
	policy := netguard.Policy{AllowPrivate: !cfg.CameraDenyPrivate}
	a.Recorders.UsePolicy(policy)
	a.Cameras = registry.New(a.DB.Client, a.Secrets, registry.Options{
		Policy: policy, TestTimeout: cfg.CameraTestTimeout, Recorders: a.Recorders, Log: a.log,
	})
}
