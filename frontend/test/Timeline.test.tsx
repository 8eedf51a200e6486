import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { SPANS, Timeline, placeLabels, tickEvery, ticks, windowFor } from '../src/components/Timeline';
import { mockGraphQL } from './helpers';

const NOW = Date.parse('2019-02-21T02:22:17Z');
const TZ = 'Asia/Tokyo';
const span = (label: string) => SPANS.find((s) => s.label === label)!;

describe('Timeline', () => {
  it('ends the window on the bar after now, so the current bar is whole', () => {
    const w = windowFor(span('1H'), NOW);
    expect(new Date(w.to).toISOString()).toBe('2019-02-21T02:23:00.000Z');
    expect(w.to - w.from).toBe(3_600_000);
  });

  it('puts ticks on the shop clock', () => {
    // 24H span ticks every 3 hours of Tokyo time: 00:00, 03:00 … JST.
    const t = ticks(Date.parse('2019-02-20T02:00:00Z'), Date.parse('2019-02-21T02:00:00Z'), 3 * 3_600_000, TZ);
    expect(new Date(t[0]).toISOString()).toBe('2019-02-20T03:00:00.000Z'); // 12:00 JST
  });

  it('spaces the ticks by the width there is, so labels never collide on a phone', () => {
    // A laptop keeps each span's own step.
    for (const s of SPANS) expect(tickEvery(s, 1000)).toBe(s.tickMs);
    // A 390 px phone leaves ~358 px of bar: 24H every 6 h, 72H once a day.
    expect(tickEvery(span('24H'), 358)).toBe(6 * 3_600_000);
    expect(tickEvery(span('72H'), 358)).toBe(24 * 3_600_000);
    for (const w of [300, 358, 500, 700, 1000]) {
      for (const s of SPANS) {
        const px = (tickEvery(s, w) / s.ms) * w;
        expect(px, `${s.label} at ${w}px`).toBeGreaterThanOrEqual(s.tickMs >= 12 * 3_600_000 ? 84 : 64);
      }
    }
  });

  it('leaves out a label that would touch the day\'s, never the day', () => {
    // 00:00 sits 18 px into the bar, so its label runs right from there and
    // 03:00, 74 px on, has no room; 06:00 has.
    const H = 3_600_000;
    const items = [0, 3, 6].map((h) => ({ t: h * H, x: 18.4 + (h / 3) * 73.75, text: h === 0 ? '2/21 00:00' : `0${h}:00` }));
    const l = placeLabels(items, 590);
    expect(l.map((x) => [x.text, x.shown, x.anchor])).toEqual([['2/21 00:00', true, 'start'], ['03:00', false, 'middle'], ['06:00', true, 'middle']]);
    // Right at the end a label is drawn leftwards from its tick.
    expect(placeLabels([{ t: 0, x: 585, text: '21:00' }], 590)[0].anchor).toBe('end');
  });

  it('draws fewer labels on a narrow bar', async () => {
    mockGraphQL(() => ({ data: { timelineBuckets: [] } }));
    const rect = vi.spyOn(SVGElement.prototype, 'getBoundingClientRect').mockReturnValue({ width: 358, height: 92, top: 0, left: 0, right: 358, bottom: 92, x: 0, y: 0, toJSON() {} } as DOMRect);
    const { container } = render(<Timeline cameraID="CA1" tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} now={() => NOW} />);
    await waitFor(() => expect(container.querySelector('svg')!.getAttribute('viewBox')).toBe('0 0 358 92'));
    const xs = [...container.querySelectorAll('g.tick text')].map((t) => Number(t.getAttribute('x')));
    expect(xs.length).toBeGreaterThanOrEqual(3);
    expect(xs.length).toBeLessThanOrEqual(5); // every 3 h would be 8 labels in 358 px
    for (let i = 1; i < xs.length; i++) expect(xs[i] - xs[i - 1]).toBeGreaterThanOrEqual(64);
    rect.mockRestore();
  });

  it('can take the keyboard focus, says how to use it in Japanese and is worked by keys', async () => {
    mockGraphQL(() => ({ data: { timelineBuckets: [] } }));
    const picked: number[] = [];
    const live: boolean[] = [];
    const { container } = render(<Timeline cameraID="CA1" tz={TZ} refresh={0} selectedAt={null} onPick={(t) => picked.push(t)} onLiveChange={(l) => live.push(l)} now={() => NOW} />);
    const bar = screen.getByRole('slider', { name: 'タイムライン' });
    // SVG ignores "tabIndex": only the lower-case attribute makes it focusable.
    const names = [...bar.attributes].map((a) => a.name);
    expect(names).toContain('tabindex');
    expect(names).not.toContain('tabIndex');
    expect(bar.getAttribute('tabindex')).toBe('0');
    const help = document.getElementById(bar.getAttribute('aria-describedby')!)!;
    expect(help.textContent).toContain('←→キーで前後に移動');
    expect(help.textContent).toContain('Enterキー');
    expect(bar.getAttribute('aria-valuetext')).toContain('24時間表示、現在');
    expect(container.querySelector('.kbd-cursor')).toBeTruthy();

    (bar as unknown as HTMLElement).focus();
    expect(document.activeElement).toBe(bar);
    fireEvent.keyDown(bar, { key: '+' });
    expect(screen.getByRole('radio', { name: '6H' }).getAttribute('aria-checked')).toBe('true');
    fireEvent.keyDown(bar, { key: '-' });
    expect(screen.getByRole('radio', { name: '24H' }).getAttribute('aria-checked')).toBe('true');
    fireEvent.keyDown(bar, { key: 'ArrowLeft' });
    await waitFor(() => expect(live.at(-1)).toBe(false));
    expect(bar.getAttribute('aria-valuetext')).not.toContain('現在');
    fireEvent.keyDown(bar, { key: 'Enter' });
    expect(picked).toHaveLength(1);
    // Enter picks the middle of the window, 6 h back from the shifted end.
    expect(picked[0]).toBeLessThan(NOW - 12 * 3_600_000);
    fireEvent.keyDown(bar, { key: 'End' });
    await waitFor(() => expect(live.at(-1)).toBe(true));
  });

  it('asks for the span the owner picks and draws a bar per kind', async () => {
    const calls = mockGraphQL((_, v) => ({
      data: { timelineBuckets: [{ start: new Date(Date.parse(v.to) - 60_000).toISOString(), payment: 3, cancel: 1, modify: 0, delete: 0, other: 0, total: 4 }] },
    }));
    const { container } = render(<Timeline cameraID="CA1" tz={TZ} refresh={0} selectedAt={null} onPick={() => {}} now={() => NOW} />);
    await waitFor(() => expect(container.querySelectorAll('rect')).toHaveLength(2));
    expect(calls[0].variables).toMatchObject({ cameraID: 'CA1', bucket: 'MINUTES_15' });
    expect(container.querySelector('.mark-payment')).toBeTruthy();
    expect(container.querySelector('.mark-cancel')).toBeTruthy();
    expect(screen.getByText('LIVE')).toBeTruthy();

    fireEvent.click(screen.getByRole('radio', { name: '10M' }));
    await waitFor(() => expect(calls.at(-1)!.variables.bucket).toBe('SECONDS_10'));
    expect(Date.parse(calls.at(-1)!.variables.to) - Date.parse(calls.at(-1)!.variables.from)).toBe(600_000);
  });

  it('goes back to now with the default span when told to, and marks the picked moment', async () => {
    mockGraphQL(() => ({ data: { timelineBuckets: [] } }));
    const live: boolean[] = [];
    const props = { cameraID: 'CA1', tz: TZ, refresh: 0, selectedAt: null, onPick: () => {}, onLiveChange: (l: boolean) => live.push(l), now: () => NOW };
    const { container, rerender } = render(<Timeline {...props} pickedAt={NOW - 3_600_000} />);
    expect(container.querySelector('line.picked')).toBeTruthy();
    const bar = screen.getByRole('slider');
    fireEvent.click(screen.getByRole('radio', { name: '1H' }));
    fireEvent.keyDown(bar, { key: 'ArrowLeft' });
    await waitFor(() => expect(live.at(-1)).toBe(false));
    rerender(<Timeline {...props} pickedAt={null} reset={1} />);
    await waitFor(() => expect(live.at(-1)).toBe(true));
    expect(screen.getByRole('radio', { name: '24H' }).getAttribute('aria-checked')).toBe('true');
    expect(container.querySelector('line.picked')).toBeNull();
  });
});
