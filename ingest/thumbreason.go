package ingest

import (
	"strings"

	"github.com/regicam/regicam/pulid"
)

// ReasonCode says, in a closed set of stable codes, why a journal entry has
// no picture. The entry's thumbnail_reason is "CODE: sentence" (Reason):
// the code for programs (the dashboard, alerts, the cloud's retry sweep),
// the sentence, in plain Japanese with the detail of that entry (how far
// the nearest frame was, the retention in days), for the shop owner. An
// entry with a thumbnail has an empty reason; every entry without one has
// a reason, always (ingest and thumbs make sure of it).
type ReasonCode string

// The reasons an entry can be without its picture.
const (
	// ReasonNoLink: no camera was linked to the entry's register at its
	// time (a register the POS just created, a link that began later or
	// ended before). Final.
	ReasonNoLink ReasonCode = "NO_LINK"
	// ReasonNoCapture: this server takes no pictures at all. Final.
	ReasonNoCapture ReasonCode = "NO_CAPTURE"
	// ReasonPending: the picture is still being taken (the frame of that
	// second was not there within ingest's wait); a THUMBNAIL event
	// brings it, or a final reason replaces this one.
	ReasonPending ReasonCode = "PENDING"
	// ReasonCameraRetired: the linked camera was retired by its owner. Final.
	ReasonCameraRetired ReasonCode = "CAMERA_RETIRED"
	// ReasonNotRecorded: no recorder runs the camera (no frame source, a
	// source not read yet such as RTSP, or not on this server). Final.
	ReasonNotRecorded ReasonCode = "NOT_RECORDED"
	// ReasonCameraOffline: the camera gave no frames around that second.
	ReasonCameraOffline ReasonCode = "CAMERA_OFFLINE"
	// ReasonNoFrame: the recorder had no frame of that second (none yet,
	// or its source said none without saying why).
	ReasonNoFrame ReasonCode = "NO_FRAME"
	// ReasonFrameTooFar: the nearest frame is further from the second than
	// the recorder's tolerance (the sentence says how far).
	ReasonFrameTooFar ReasonCode = "FRAME_TOO_FAR"
	// ReasonBufferPassed: the second is older than the recorder's buffer
	// reaches back (POS data that arrived too late for the recorder).
	ReasonBufferPassed ReasonCode = "BUFFER_PASSED"
	// ReasonTimeout: the late capture gave up waiting for the frame.
	ReasonTimeout ReasonCode = "TIMEOUT"
	// ReasonCloudRetry: the camera cloud could not give the picture yet
	// (rate limit, 5xx, not uploaded); camcloud/pictures asks again.
	ReasonCloudRetry ReasonCode = "CLOUD_RETRY"
	// ReasonCloudAuth: the camera cloud refused the connection's
	// credential; retried once the owner reconnects.
	ReasonCloudAuth ReasonCode = "CLOUD_AUTH"
	// ReasonNoRecording: the camera (cloud) recorded nothing at that
	// second: a gap in its recorded spans. Final.
	ReasonNoRecording ReasonCode = "NO_RECORDING"
	// ReasonRetention: the second is older than the camera cloud keeps. Final.
	ReasonRetention ReasonCode = "RETENTION"
	// ReasonUnreadable: the frame could not be read or scaled down.
	ReasonUnreadable ReasonCode = "UNREADABLE"
	// ReasonStoreFailed: the picture was taken but the blob store refused
	// it (retried where the source can give the second again).
	ReasonStoreFailed ReasonCode = "STORE_FAILED"
	// ReasonExpired: the picture was deleted by thumbnail retention. Final.
	ReasonExpired ReasonCode = "EXPIRED"
	// ReasonUnknown is what CodeOf says of a reason written before the
	// codes (free text): still a reason, of no known kind.
	ReasonUnknown ReasonCode = "UNKNOWN"
)

// ReasonCodes is the closed set, in a stable order (documentation, tests).
var ReasonCodes = []ReasonCode{
	ReasonNoLink, ReasonNoCapture, ReasonPending, ReasonCameraRetired, ReasonNotRecorded,
	ReasonCameraOffline, ReasonNoFrame, ReasonFrameTooFar, ReasonBufferPassed, ReasonTimeout,
	ReasonCloudRetry, ReasonCloudAuth, ReasonNoRecording, ReasonRetention, ReasonUnreadable,
	ReasonStoreFailed, ReasonExpired,
}

// reasonTexts are the sentences of reasons without detail.
var reasonTexts = map[ReasonCode]string{
	ReasonNoLink:        "この時刻にこのレジに紐付いたカメラがありません",
	ReasonNoCapture:     "このサーバーではサムネイルを撮影していません",
	ReasonPending:       "カメラ映像を取得中です（再試行します）",
	ReasonCameraRetired: "このカメラは使用を終了しています",
	ReasonNotRecorded:   "このカメラは録画されていません",
	ReasonCameraOffline: "カメラがオフラインでした",
	ReasonNoFrame:       "該当時刻の映像がありません",
	ReasonFrameTooFar:   "該当時刻に近い映像がありません",
	ReasonBufferPassed:  "録画の保持時間を過ぎていました",
	ReasonTimeout:       "時間内にカメラ映像を取得できませんでした",
	ReasonCloudRetry:    "クラウドから映像を取得中です（再試行します）",
	ReasonCloudAuth:     "Safie の認証が切れています（再接続してください）",
	ReasonNoRecording:   "この時刻は録画されていません（録画の空白）",
	ReasonRetention:     "クラウドの保存期間を過ぎています",
	ReasonUnreadable:    "映像を縮小できませんでした",
	ReasonStoreFailed:   "サムネイルを保存できませんでした",
	ReasonExpired:       "サムネイルの保存期間を過ぎたため削除しました",
}

// Reason is the thumbnail_reason of code: "CODE: sentence". text replaces
// the code's standard sentence when it says more (empty: the standard one).
func Reason(code ReasonCode, text string) string {
	if text == "" {
		text = reasonTexts[code]
	}
	return string(code) + ": " + text
}

// CodeOf is the code of a stored reason: "" for none (the entry has its
// picture), ReasonUnknown for a reason without a known code.
func CodeOf(reason string) ReasonCode {
	if reason == "" {
		return ""
	}
	code, _, ok := strings.Cut(reason, ": ")
	if ok {
		if _, known := reasonTexts[ReasonCode(code)]; known {
			return ReasonCode(code)
		}
	}
	return ReasonUnknown
}

// ReasonText is the sentence of a stored reason, without its code (what a
// shop owner reads).
func ReasonText(reason string) string {
	if CodeOf(reason) == ReasonUnknown {
		return reason
	}
	_, text, _ := strings.Cut(reason, ": ")
	return text
}

// entryReason is the reason an entry is stored with: none beside its
// picture, and never none without one. captured is the Thumbnailer's own
// reason, "" when it went pending.
func (in *Ingester) entryReason(cameraID *pulid.ID, shot *Shot, captured string) string {
	switch {
	case shot != nil:
		return ""
	case cameraID == nil:
		return Reason(ReasonNoLink, "")
	case in.Thumbnails == nil:
		return Reason(ReasonNoCapture, "")
	case captured == "":
		return Reason(ReasonPending, "")
	case CodeOf(captured) == ReasonUnknown:
		return Reason(ReasonNoFrame, captured) // a Thumbnailer's free text
	}
	return captured
}
