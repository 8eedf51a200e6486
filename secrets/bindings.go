package secrets

import "github.com/regicam/regicam/pulid"

// A sealed value is bound to the row and column it lives in (the AEAD's
// additional data), so a value copied into another row or column does not
// open. Every binding is declared here, in one place: the packages that seal
// and open a column, and secrets/rotation that reseals it, must agree byte
// for byte, and a binding that changed would make stored values unreadable.

// POSConnectionSecretsAAD binds a POS connection's sealed credentials
// (Smaregi client secret, Ubiregi tokens: a connection is one or the other).
func POSConnectionSecretsAAD(id pulid.ID) []byte {
	return []byte("pos_connection:" + string(id) + ":secrets")
}

// POSWebhookSecretAAD binds the secret that signs a connection's pushed data.
func POSWebhookSecretAAD(id pulid.ID) []byte {
	return []byte("pos_connection:" + string(id) + ":webhook_secret")
}

// CameraCredentialsAAD binds a camera's source login.
func CameraCredentialsAAD(id pulid.ID) []byte {
	return []byte("camera:" + string(id) + ":source_credentials")
}

// CameraSnapshotCredentialsAAD binds the login of an RTSP camera's snapshot
// URL (its own column: a copy of the source login must not open there).
func CameraSnapshotCredentialsAAD(id pulid.ID) []byte {
	return []byte("camera:" + string(id) + ":snapshot_credentials")
}

// AlertWebhookSecretAAD binds the secret that signs an alert rule's webhooks.
func AlertWebhookSecretAAD(rule pulid.ID) []byte {
	return []byte("alert-webhook:" + string(rule))
}

// CameraCloudSecretsAAD binds a camera-cloud connection's sealed
// credentials (Safie API key, or OAuth tokens: a connection is one or the
// other).
func CameraCloudSecretsAAD(id pulid.ID) []byte {
	return []byte("camera_cloud_connection:" + string(id) + ":secrets")
}

// MailPasswordAAD binds the password of an account's outgoing mail server
// (the daily digest's SMTP login).
func MailPasswordAAD(id pulid.ID) []byte {
	return []byte("mail_settings:" + string(id) + ":password")
}
