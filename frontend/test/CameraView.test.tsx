import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { CameraView, zoneLabel, type CameraInfo } from '../src/components/CameraView';
import { entry } from './helpers';

const camera: CameraInfo = {
  id: 'CA1', name: 'レジ前', model: 'DEMO', deviceID: 'd1',
  status: { recording: true, online: true, lastSeenAt: null, lastError: null },
};
// 02:22:17Z is 11:22:17 in Tokyo.
const picture = { url: '/thumbnails/TH1/picture', width: 1920, height: 1080, capturedAt: '2019-02-21T02:22:17.300Z' };

function show(e = entry({ picture }), tz = 'Asia/Tokyo') {
  return render(<CameraView camera={camera} tz={tz} selected={e} onBackToLive={() => {}} everyMs={3_600_000} />);
}

describe('CameraView, a selected receipt', () => {
  it('shows the full-resolution picture, not the thumbnail, and zooms between fit and 100%', () => {
    const { container } = show();
    const img = screen.getByTestId('receipt-picture') as HTMLImageElement;
    expect(img.getAttribute('src')).toBe('/thumbnails/TH1/picture');
    expect(img.getAttribute('width')).toBe('1920');
    expect(img.dataset.source).toBe('picture');
    expect(screen.queryByTestId('picture-fallback')).toBeNull();

    const stage = container.querySelector('.stage') as HTMLElement;
    const zoom = screen.getByTestId('picture-zoom');
    expect(stage.dataset.zoom).toBe('fit');
    expect(zoom.getAttribute('aria-pressed')).toBe('false');
    fireEvent.click(zoom);
    expect(stage.dataset.zoom).toBe('100');
    expect(stage.classList.contains('zoomed')).toBe(true);
    expect(zoom.getAttribute('aria-pressed')).toBe('true');
    expect(zoom.textContent).toBe('全体を表示');
    expect(stage.tabIndex).toBe(0); // a scrolling region keyboard users can pan

    // Dragging pans the stage at 100%.
    stage.scrollLeft = 300;
    fireEvent.pointerDown(stage, { clientX: 500, clientY: 300, pointerId: 1 });
    fireEvent.pointerMove(stage, { clientX: 400, clientY: 300, pointerId: 1 });
    fireEvent.pointerUp(stage, { pointerId: 1 });
    expect(stage.scrollLeft).toBe(400);

    fireEvent.click(zoom);
    expect(stage.dataset.zoom).toBe('fit');

    const open = screen.getByRole('link', { name: '別タブで開く' });
    expect(open.getAttribute('href')).toBe('/thumbnails/TH1/picture');
    expect(open.getAttribute('target')).toBe('_blank');
  });

  it('labels the times with the shop zone and keeps badges off the picture', () => {
    const { container } = show();
    const caption = screen.getByTestId('picture-caption').textContent!;
    expect(caption).toContain('撮影 11:22:17 (日本時間)');
    const bar = container.querySelector('.picbar')!;
    expect(bar.textContent).toContain('2019/02/21 11:22:17 (日本時間)');
    expect(container.querySelector('.stage .badge, .stage .overlay')).toBeNull();
  });

  it('names another zone by its abbreviation', () => {
    show(entry({ picture }), 'America/Los_Angeles');
    // 02:22:17Z is 18:22:17 the day before in Los Angeles (PST).
    expect(screen.getByTestId('picture-caption').textContent).toContain('撮影 18:22:17 (PST)');
    expect(zoneLabel('Asia/Tokyo')).toBe('日本時間');
  });

  it('falls back to the thumbnail when no full picture was kept, and says so', () => {
    show(entry({ picture: null }));
    const img = screen.getByTestId('receipt-picture') as HTMLImageElement;
    expect(img.getAttribute('src')).toBe('/thumbnails/TH1');
    expect(img.dataset.source).toBe('thumbnail');
    expect(screen.getByTestId('picture-fallback').textContent).toContain('縮小画像');
    expect(screen.queryByTestId('picture-zoom')).toBeNull();
  });

  it('says there is no picture at all', () => {
    show(entry({ picture: null, thumbnail: null, thumbnailReason: 'このカメラは録画されていません' }));
    expect(screen.queryByTestId('receipt-picture')).toBeNull();
    expect(screen.getByText(/画像なし: このカメラは録画されていません/)).toBeTruthy();
  });

  it('starts at fit again for the next receipt', () => {
    const { container, rerender } = show();
    fireEvent.click(screen.getByTestId('picture-zoom'));
    rerender(<CameraView camera={camera} tz="Asia/Tokyo" selected={entry({ picture })} onBackToLive={() => {}} everyMs={3_600_000} />);
    expect((container.querySelector('.stage') as HTMLElement).dataset.zoom).toBe('fit');
  });
});

describe('CameraView, live', () => {
  it('puts LIVE and the labelled capture time above the picture', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => new Response(new Blob(['x'], { type: 'image/jpeg' }), {
      status: 200, headers: { 'X-Captured-At': '2019-02-21T02:22:17Z' },
    })));
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:live', revokeObjectURL: () => {} }));
    const { container } = render(<CameraView camera={camera} tz="Asia/Tokyo" selected={null} onBackToLive={() => {}} everyMs={3_600_000} />);
    await waitFor(() => expect(screen.getByAltText('レジ前 のライブ映像')).toBeTruthy());
    expect(screen.getByTestId('live-time').textContent).toBe('撮影 2019/02/21 11:22:17 (日本時間)');
    const bar = container.querySelector('.picbar')!;
    expect(bar.textContent).toContain('LIVE');
    expect(container.querySelector('.stage .badge')).toBeNull();
  });
});
