// The camera panel as a player: a receipt's clip plays from its lead-in with
// its second marked, the recording's own start (X-Recording-Start) places
// the video, a span without recording says so with the nearest recordings,
// and ← / → step through the window or ask for another one.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { CameraView, type CameraInfo } from '../src/components/CameraView';
import { Player } from '../src/components/Player';
import { entry } from './helpers';

const camera: CameraInfo = {
  id: 'CA1', name: 'レジ前', model: 'DEMO', deviceID: 'd1',
  status: { recording: true, online: true, lastSeenAt: null, lastError: null },
};
const clip = {
  from: '2019-02-21T02:22:07Z', to: '2019-02-21T02:22:37Z', mark: '2019-02-21T02:22:17Z',
  url: '/entries/JE1/clip', downloadURL: '/entries/JE1/clip?download=1', contentType: 'video/mp4', unavailableReason: null,
};

function serve(answer: (url: string) => Response) {
  const calls: string[] = [];
  vi.stubGlobal('fetch', vi.fn(async (url: string) => { calls.push(url); return answer(url); }));
  return calls;
}
const video = (start: string) => new Response(new Uint8Array([0, 0, 0, 8]), { status: 200, headers: { 'Content-Type': 'video/mp4', 'X-Recording-Start': start } });

afterEach(() => vi.unstubAllGlobals());

describe('a receipt with a clip', () => {
  it('plays the clip, marks the receipt\'s second, offers download, share and the way back to live', async () => {
    const calls = serve(() => video('2019-02-21T02:22:06.800Z'));
    const back = vi.fn();
    render(<CameraView camera={camera} tz="Asia/Tokyo" selected={entry({ clip })} onBackToLive={back} everyMs={3_600_000} />);
    const v = screen.getByTestId('player') as HTMLVideoElement;
    await waitFor(() => expect(v.dataset.start).toBe('2019-02-21T02:22:06.800Z'));
    expect(calls).toEqual(['/entries/JE1/clip']);
    expect(v.getAttribute('src')).toMatch(/^blob:/);
    expect(v.dataset.mark).toBe('2019-02-21T02:22:17.000Z');
    // The mark sits a third of the way along the 30 s clip (10 s lead-in).
    expect((screen.getByTestId('scrub-mark') as HTMLElement).style.left).toMatch(/^33\.3/);
    expect(screen.getByTestId('clip-download').getAttribute('href')).toBe('/entries/JE1/clip?download=1');
    expect(screen.getByTestId('share-open').textContent).toBe('共有リンク');
    fireEvent.click(screen.getByTestId('back-to-live'));
    expect(back).toHaveBeenCalled();
  });

  it('shows why there is no video instead of a player when the clip has no url', () => {
    render(<CameraView camera={camera} tz="Asia/Tokyo" selected={entry()} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(screen.queryByTestId('player')).toBeNull();
    expect(screen.getByTestId('clip').textContent).toBe('動画: このカメラの動画は録画していません（静止画のみ）');
  });
});

describe('Player', () => {
  const win = { from: Date.parse('2019-02-21T02:00:00Z'), to: Date.parse('2019-02-21T02:01:00Z') };

  it('says the span has no recording, with the nearest recordings one click away', async () => {
    serve(() => new Response(JSON.stringify({ errors: [{ message: 'この時間の録画はありません (no recording in this span)', extensions: { code: 'NOT_FOUND', reason: 'NOT_FOUND', nearest: [{ from: '2019-02-21T02:05:00.000Z', to: '2019-02-21T02:09:00.000Z' }] } }] }), { status: 404, headers: { 'Content-Type': 'application/json' } }));
    const outside = vi.fn();
    render(<Player source={{ url: '/cameras/CA1/playback?x', win, start: win.from + 5000 }} tz="Asia/Tokyo" label="録画" onOutside={outside} />);
    const err = await screen.findByTestId('player-error');
    expect(err.textContent).toContain('この時間の録画はありません');
    expect(err.textContent).not.toContain('no recording');
    fireEvent.click(screen.getByRole('button', { name: '11:05:00〜11:09:00' }));
    expect(outside).toHaveBeenCalledWith(Date.parse('2019-02-21T02:05:00Z'));
  });

  it('steps inside the window, and asks for another window past its end', async () => {
    serve(() => video('2019-02-21T02:00:00.000Z'));
    const outside = vi.fn();
    const moments: number[] = [];
    render(<Player source={{ url: '/cameras/CA1/playback?y', win, start: win.to - 500 }} tz="Asia/Tokyo" label="録画" onOutside={outside} onMoment={(t) => moments.push(t)} />);
    const v = screen.getByTestId('player') as HTMLVideoElement;
    await waitFor(() => expect(v.dataset.start).toBeTruthy());
    // happy-dom has no media pipeline: a paused video steps a frame (200 ms until one is seen).
    fireEvent.keyDown(v, { key: 'ArrowLeft' });
    expect(screen.getByTestId('player-time').dataset.at).toBe('2019-02-21T02:00:59.300Z');
    for (let i = 0; i < 3; i++) fireEvent.keyDown(v, { key: 'ArrowRight' });
    expect(outside).not.toHaveBeenCalled();
    fireEvent.keyDown(v, { key: 'ArrowRight' });
    expect(outside).toHaveBeenCalledWith(Date.parse('2019-02-21T02:01:00.100Z'));
  });

  it('refuses an answer that is not video (a ZIP where the server has no ffmpeg)', async () => {
    serve(() => new Response('PK', { status: 200, headers: { 'Content-Type': 'application/zip' } }));
    render(<Player source={{ url: '/cameras/CA1/playback?z', win, start: win.from }} tz="Asia/Tokyo" label="録画" />);
    expect((await screen.findByTestId('player-error')).textContent).toContain('ダウンロードしてご覧ください');
  });
});
