import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/preact';
import { SPANS, Timeline, ticks, windowFor } from '../src/components/Timeline';
import { mockGraphQL } from './helpers';

const NOW = Date.parse('2019-02-21T02:22:17Z');

describe('Timeline', () => {
  it('ends the window on the bar after now, so the current bar is whole', () => {
    const h1 = SPANS.find((s) => s.label === '1H')!;
    const w = windowFor(h1, NOW);
    expect(new Date(w.to).toISOString()).toBe('2019-02-21T02:23:00.000Z');
    expect(w.to - w.from).toBe(3_600_000);
  });

  it('puts ticks on the shop clock', () => {
    // 24H span ticks every 3 hours of Tokyo time: 00:00, 03:00 … JST.
    const t = ticks(Date.parse('2019-02-20T02:00:00Z'), Date.parse('2019-02-21T02:00:00Z'), 3 * 3_600_000, 'Asia/Tokyo');
    expect(new Date(t[0]).toISOString()).toBe('2019-02-20T03:00:00.000Z'); // 12:00 JST
  });

  it('asks for the span the owner picks and draws a bar per kind', async () => {
    const calls = mockGraphQL((_, v) => ({
      data: { timelineBuckets: [{ start: new Date(Date.parse(v.to) - 60_000).toISOString(), payment: 3, cancel: 1, modify: 0, delete: 0, other: 0, total: 4 }] },
    }));
    const picked: number[] = [];
    const { container } = render(<Timeline cameraID="CA1" tz="Asia/Tokyo" refresh={0} selectedAt={null} onPick={(t) => picked.push(t)} now={() => NOW} />);
    await waitFor(() => expect(container.querySelectorAll('rect')).toHaveLength(2));
    expect(calls[0].variables).toMatchObject({ cameraID: 'CA1', bucket: 'MINUTES_15' });
    expect(container.querySelector('.mark-payment')).toBeTruthy();
    expect(container.querySelector('.mark-cancel')).toBeTruthy();
    expect(screen.getByText('LIVE')).toBeTruthy();

    fireEvent.click(screen.getByRole('radio', { name: '10M' }));
    await waitFor(() => expect(calls.at(-1)!.variables.bucket).toBe('SECONDS_10'));
    expect(Date.parse(calls.at(-1)!.variables.to) - Date.parse(calls.at(-1)!.variables.from)).toBe(600_000);

    // Keyboard: ← moves back a quarter span and leaves LIVE; End returns.
    const bar = screen.getByRole('slider');
    fireEvent.keyDown(bar, { key: 'ArrowLeft' });
    expect(screen.getByRole('button', { name: '● LIVE に戻る' })).toBeTruthy();
    fireEvent.keyDown(bar, { key: 'Enter' });
    expect(picked).toHaveLength(1);
    expect(picked[0]).toBeLessThan(NOW);
  });
});
