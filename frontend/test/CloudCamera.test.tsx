// What a camera of the camera cloud adds to the dashboard: 人検知 on the
// card and the picture, ずれ 不明 for a cloud picture, the clip's reason,
// 録画なし marks on the timeline (asked at most once a minute), and the
// クラウド / 録画停止中 marks where cameras are chosen.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { ReceiptCard } from '../src/components/ReceiptCard';
import { CameraView, cameraLabel, type CameraInfo } from '../src/components/CameraView';
import { RECORDINGS_EVERY_MS, Timeline } from '../src/components/Timeline';
import { cameraChoice, personsText } from '../src/format';
import { entry, mockGraphQL } from './helpers';

const TZ = 'Asia/Tokyo';
const cloudCam: CameraInfo = {
  id: 'CA9', name: 'レジ前カメラ (CC-2L_SF : 201000192)', model: 'CC-2L_SF', deviceID: 'dev-1', sourceKind: 'CLOUD', streaming: false,
  status: { recording: false, online: false, lastSeenAt: null, lastError: null },
};
const cloudClip = { from: '2019-02-21T02:22:07Z', to: '2019-02-21T02:22:37Z', mark: '2019-02-21T02:22:17Z', downloadURL: null, url: null, contentType: null, unavailableReason: 'クラウドカメラの動画は Safie Viewer でご覧ください（Safie API は動画を提供していません）' };

const card = (e: ReturnType<typeof entry>) => render(<ReceiptCard entry={e} tz={TZ} selected={false} fresh={false} missed={false} onSelect={() => {}} />);

describe('persons near a receipt', () => {
  it('shows 人検知 N人, 人検知なし as a warning, and nothing until counted', () => {
    expect(personsText(2)).toBe('人検知 2人');
    expect(personsText(0)).toBe('人検知なし');
    expect(personsText(null)).toBeNull();

    card(entry({ personsNearby: 2, personsCheckedAt: '2019-02-21T02:24:00Z' }));
    expect(screen.getByTestId('persons').textContent).toBe('人検知 2人');
    expect(screen.getByTestId('persons').classList.contains('none')).toBe(false);
  });

  it('marks a receipt where nobody was seen', () => {
    card(entry({ kind: 'CANCEL', kindLabel: 'キャンセル', personsNearby: 0, personsCheckedAt: '2019-02-21T02:24:00Z' }));
    const b = screen.getByTestId('persons');
    expect(b.textContent).toBe('人検知なし');
    expect(b.classList.contains('none')).toBe(true);
  });

  it('says nothing while a cloud camera\'s person events are not in yet', () => {
    card(entry({ personsNearby: null, personsCheckedAt: null }));
    expect(screen.queryByTestId('persons')).toBeNull();
  });
});

describe('the picture of a cloud camera\'s receipt', () => {
  it('says the skew is unknown, shows the persons, and why there is no video', () => {
    const e = entry({
      personsNearby: 0, personsCheckedAt: '2019-02-21T02:24:00Z', clip: cloudClip,
      thumbnail: { id: 'TH1', url: '/thumbnails/TH1', width: 320, height: 180, capturedAt: '2019-02-21T02:22:17Z', skewMs: 0, skewKnown: false },
    });
    render(<CameraView camera={cloudCam} tz={TZ} selected={e} onBackToLive={() => {}} everyMs={3_600_000} />);
    const caption = screen.getByTestId('picture-caption');
    expect(screen.getByTestId('picture-skew').textContent).toBe('ずれ: 不明（クラウド録画）');
    expect(caption.textContent).not.toMatch(/±0\.0秒/);
    expect(caption.textContent).toContain('人検知なし');
    const clip = screen.getByTestId('clip');
    expect(clip.tagName).toBe('SPAN');
    expect(clip.textContent).toBe('動画: ' + cloudClip.unavailableReason);
  });

  it('keeps the measured skew of other cameras, and plays a clip that has a url', () => {
    const e = entry({ clip: { from: '2019-02-21T02:22:07Z', to: '2019-02-21T02:22:37Z', mark: '2019-02-21T02:22:17Z', url: '/entries/JE1/clip', downloadURL: '/entries/JE1/clip?download=1', contentType: 'video/mp4', unavailableReason: null } });
    render(<CameraView camera={{ ...cloudCam, sourceKind: 'SNAPSHOT', streaming: null }} tz={TZ} selected={e} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(screen.getByTestId('player')).toBeTruthy();
    fireEvent.click(screen.getByTestId('show-still'));
    expect(screen.getByTestId('picture-skew').textContent).toBe('ずれ +0.3秒');
    expect(screen.queryByTestId('clip')).toBeNull();
    fireEvent.click(screen.getByTestId('show-video'));
    expect(screen.getByTestId('player')).toBeTruthy();
  });

  it('names a cloud camera by its own label and marks it クラウド, 録画停止中', () => {
    expect(cameraLabel(cloudCam)).toBe('レジ前カメラ (CC-2L_SF : 201000192)');
    expect(cameraLabel({ name: 'レジ前', model: 'M', deviceID: 'd' })).toBe('レジ前 (M : d)');
    render(<CameraView camera={cloudCam} tz={TZ} selected={entry()} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect(screen.getByText('クラウド')).toBeTruthy();
    expect(screen.getByText('録画停止中')).toBeTruthy();
  });

  it('offers a cloud camera as a choice with its marks', () => {
    expect(cameraChoice({ label: 'x (CC : dev-1)', name: 'レジ前カメラ (CC : 201)', sourceKind: 'CLOUD', streaming: true })).toBe('レジ前カメラ (CC : 201)（クラウド）');
    expect(cameraChoice({ label: 'x', name: 'レジ前カメラ (CC : 201)', sourceKind: 'CLOUD', streaming: false })).toBe('レジ前カメラ (CC : 201)（クラウド・録画停止中）');
    expect(cameraChoice({ label: '店内 (M : d)', name: '店内', sourceKind: 'SNAPSHOT', streaming: null })).toBe('店内 (M : d)');
  });
});

describe('録画なし on a cloud camera\'s timeline', () => {
  const NOW = Date.parse('2019-02-21T02:22:17Z');

  it('draws the cloud\'s gaps hatched with their times, and lists them for screen readers', async () => {
    const calls = mockGraphQL((op, v) => {
      if (op === 'Timeline') return { data: { timelineBuckets: [] } };
      if (op === 'CameraRecordings') {
        return { data: { cameras: { edges: [{ node: { id: v.cameraID, recordings: { source: 'CLOUD', message: null, gaps: [{ from: '2019-02-21T00:00:00Z', to: '2019-02-21T00:30:00Z' }] } } }] } } };
      }
      throw new Error('unexpected ' + op);
    });
    const { container } = render(<Timeline cameraID="CA9" cloud tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} now={() => NOW} />);
    await waitFor(() => expect(container.querySelector('[data-testid=nomark]')).toBeTruthy());
    const mark = container.querySelector('[data-testid=nomark]')!;
    expect(mark.querySelector('title')!.textContent).toBe('録画なし 2/21 09:00 から 2/21 09:30 まで');
    expect(mark.querySelector('rect')!.getAttribute('fill')).toMatch(/^url\(#nomark-/);
    expect(screen.getByTestId('nomark-list').textContent).toBe('録画なし 2/21 09:00 から 2/21 09:30 まで。');
    const q = calls.find((c) => c.op === 'CameraRecordings')!.variables;
    expect(q.cameraID).toBe('CA9');
    expect(Date.parse(q.to) - Date.parse(q.from)).toBeLessThanOrEqual(72 * 3_600_000);
  });

  it('draws the gaps of regicam\'s own recording (LOCAL) too', async () => {
    mockGraphQL((op, v) => (op === 'Timeline' ? { data: { timelineBuckets: [] } }
      : { data: { cameras: { edges: [{ node: { id: v.cameraID, recordings: { source: 'LOCAL', message: null, spans: [], gaps: [{ from: '2019-02-21T01:00:00Z', to: '2019-02-21T01:10:00Z' }] } } }] } } }));
    const { container } = render(<Timeline cameraID="CA1" tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} now={() => NOW} />);
    await waitFor(() => expect(container.querySelector('[data-testid=nomark]')).toBeTruthy());
    expect(screen.getByTestId('nomark-list').textContent).toBe('録画なし 2/21 10:00 から 2/21 10:10 まで。');
    expect(container.querySelector('.legend')!.textContent).toContain('録画なし');
  });

  it('marks nothing for a camera nobody records (NONE)', async () => {
    const calls = mockGraphQL((op, v) => (op === 'Timeline' ? { data: { timelineBuckets: [] } }
      : { data: { cameras: { edges: [{ node: { id: v.cameraID, recordings: { source: 'NONE', message: null, spans: [], gaps: [{ from: '2019-02-21T01:22:17Z', to: '2019-02-21T02:22:17Z' }] } } }] } } }));
    const { container } = render(<Timeline cameraID="CA1" tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} now={() => NOW} />);
    await waitFor(() => expect(calls.some((c) => c.op === 'CameraRecordings')).toBe(true));
    await new Promise((r) => setTimeout(r, 50));
    expect(container.querySelector('[data-testid=nomark]')).toBeNull();
    expect(container.querySelector('[data-testid=nomark-list]')).toBeNull();
  });

  it('shows why nothing can be said (past the retention)', async () => {
    mockGraphQL((op, v) => (op === 'Timeline' ? { data: { timelineBuckets: [] } }
      : { data: { cameras: { edges: [{ node: { id: v.cameraID, recordings: { source: 'CLOUD', message: 'この期間はクラウドの保存期間外です', gaps: [] } } }] } } }));
    render(<Timeline cameraID="CA9" cloud tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} now={() => NOW} />);
    expect((await screen.findByTestId('recordings-message')).textContent).toBe('この期間はクラウドの保存期間外です');
  });

  it('asks the cloud at most once a minute while it follows the clock', async () => {
    vi.useFakeTimers({ now: NOW });
    const calls = mockGraphQL((op, v) => (op === 'Timeline' ? { data: { timelineBuckets: [] } }
      : { data: { cameras: { edges: [{ node: { id: v.cameraID, recordings: { source: 'CLOUD', message: null, gaps: [] } } }] } } }));
    render(<Timeline cameraID="CA9" cloud tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} />);
    const asked = () => calls.filter((c) => c.op === 'CameraRecordings').length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(asked()).toBe(1);
    // Another span is another window: asked at once.
    fireEvent.click(screen.getByRole('radio', { name: '10M' }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(asked()).toBe(2);
    // The 10M window moves every 10 s with the clock; the cloud is asked once a minute.
    await vi.advanceTimersByTimeAsync(RECORDINGS_EVERY_MS - 5000);
    expect(asked()).toBe(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked()).toBe(3);
    await vi.advanceTimersByTimeAsync(3 * RECORDINGS_EVERY_MS);
    expect(asked()).toBeLessThanOrEqual(6);
    expect(asked()).toBeGreaterThanOrEqual(5);
  });
});

describe('a cloud picture still to come', () => {
  it('says 取得中… on the card while the cloud is asked again, 画像なし once it is final', () => {
    card(entry({ thumbnail: null, thumbnailReason: 'クラウドから映像を取得中です（再試行します）' }));
    expect(document.querySelector('div.thumb')!.textContent).toBe('取得中…');
    card(entry({ thumbnail: null, thumbnailReason: 'クラウドの保存期間（7日）を過ぎています' }));
    expect(document.querySelectorAll('div.thumb')[1].textContent).toBe('画像なし');
  });
});

describe('the live picture of a cloud camera', () => {
  it('asks the cloud every 5 s, not every second, and keeps the last frame when refused with 429', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      let calls = 0;
      const fetchMock = vi.fn(async () => {
        calls++;
        if (calls === 2) return new Response('{}', { status: 429, headers: { 'Retry-After': '7' } });
        return new Response(new Blob(['x'], { type: 'image/jpeg' }), { status: 200, headers: { 'X-Captured-At': '2019-02-21T02:22:17Z' } });
      });
      vi.stubGlobal('fetch', fetchMock);
      vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:live', revokeObjectURL: () => {} }));
      render(<CameraView camera={{ ...cloudCam, streaming: true }} tz={TZ} selected={null} onBackToLive={() => {}} everyMs={1000} />);
      await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(1));
      await vi.advanceTimersByTimeAsync(4000);
      expect(fetchMock).toHaveBeenCalledTimes(1); // a second would have asked four more times
      await vi.advanceTimersByTimeAsync(1100);
      expect(fetchMock).toHaveBeenCalledTimes(2); // refused: 429, Retry-After 7 s
      expect(screen.getByAltText(`${cloudCam.name} のライブ映像`)).toBeTruthy();
      expect(screen.queryByText(/映像を取得できません/)).toBeNull();
      await vi.advanceTimersByTimeAsync(5500);
      expect(fetchMock).toHaveBeenCalledTimes(2); // still waiting out Retry-After
      await vi.advanceTimersByTimeAsync(2000);
      expect(fetchMock).toHaveBeenCalledTimes(3);
    } finally {
      vi.useRealTimers();
      vi.unstubAllGlobals();
    }
  });
});
