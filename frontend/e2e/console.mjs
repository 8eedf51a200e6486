// Console errors that mean something. The player asks the recording API for
// a stretch and shows 「この時間の録画はありません」 when it answers 404 (a
// documented answer: nothing recorded there yet, e.g. before the demo
// started recording); Chromium logs every 4xx fetch as an error, so those
// two routes' 404s are not counted.
const noRecording = /\/(entries\/[^/]+\/clip|cameras\/[^/]+\/playback)(\?|$)/;
// Likewise the live picture answers 503 「まだ映像がありません」 with
// Retry-After while a camera has no frame yet (a camera just added, an RTSP
// camera whose newest seconds are not decoded yet); the live view shows that
// sentence and asks again.
const noPictureYet = /\/cameras\/[^/]+\/live\.jpg(\?|$)/;

export function countsAsError(m) {
  if (m.type() !== 'error') return false;
  const url = m.location()?.url ?? '';
  if (/status of 404/.test(m.text()) && noRecording.test(url)) return false;
  if (/status of 503/.test(m.text()) && noPictureYet.test(url)) return false;
  return true;
}
