// Console errors that mean something. The player asks the recording API for
// a stretch and shows 「この時間の録画はありません」 when it answers 404 (a
// documented answer: nothing recorded there yet, e.g. before the demo
// started recording); Chromium logs every 4xx fetch as an error, so those
// two routes' 404s are not counted.
const noRecording = /\/(entries\/[^/]+\/clip|cameras\/[^/]+\/playback)(\?|$)/;

export function countsAsError(m) {
  if (m.type() !== 'error') return false;
  if (/status of 404/.test(m.text()) && noRecording.test(m.location()?.url ?? '')) return false;
  return true;
}
