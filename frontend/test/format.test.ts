import { describe, expect, it } from 'vitest';
import { addDays, dateTime, dayHeader, hm, parseIsoDay, skew, startOfDay, yen } from '../src/format';

const TZ = 'Asia/Tokyo';

describe('format', () => {
  it('writes yen the way receipts do', () => {
    expect(yen(35000)).toBe('¥35,000');
    expect(yen(0)).toBe('¥0');
    expect(yen(1234567)).toBe('¥1,234,567');
    expect(yen(-500)).toBe('-¥500');
  });

  it('shows times in the shop time zone, not the browser one', () => {
    // 02:22:17 UTC is 11:22:17 in Tokyo, on Thursday 21 February 2019.
    expect(dateTime('2019-02-21T02:22:17Z', TZ)).toBe('2019/02/21 11:22:17');
    expect(dayHeader('2019-02-21T02:22:17Z', TZ)).toBe('2019/2/21(木)');
    expect(hm('2019-02-21T02:18:00Z', TZ)).toBe('11:18');
    // 20:00 UTC on the 20th is already the 21st in Tokyo.
    expect(dayHeader('2019-02-20T20:00:00Z', TZ)).toBe('2019/2/21(木)');
  });

  it('finds the start of the shop day and moves by days', () => {
    const start = startOfDay(Date.parse('2019-02-21T02:22:17Z'), TZ);
    expect(new Date(start).toISOString()).toBe('2019-02-20T15:00:00.000Z');
    expect(new Date(addDays(start, 1, TZ)).toISOString()).toBe('2019-02-21T15:00:00.000Z');
    expect(parseIsoDay('2019-02-21', TZ)).toBe(start);
  });

  it('follows daylight saving time where the shop has it', () => {
    const ny = 'America/New_York';
    const day = startOfDay(Date.parse('2024-03-10T18:00:00Z'), ny); // DST starts that night
    expect(new Date(day).toISOString()).toBe('2024-03-10T05:00:00.000Z');
    expect(new Date(addDays(day, 1, ny)).toISOString()).toBe('2024-03-11T04:00:00.000Z');
  });

  it('signs the picture skew', () => {
    expect(skew(300)).toBe('+0.3秒');
    expect(skew(-1250)).toBe('-1.3秒');
    expect(skew(-20)).toBe('±0.0秒');
  });
});

import { forOwner } from '../src/api';

describe('forOwner', () => {
  it('drops the English in brackets after a Japanese message, keeps short technical ones', () => {
    expect(forOwner('メールアドレスまたはパスワードが違います (wrong email or password)')).toBe('メールアドレスまたはパスワードが違います');
    expect(forOwner('スキーム ftp は使えません (scheme "ftp" not supported for SNAPSHOT)')).toBe('スキーム ftp は使えません');
    expect(forOwner('スマレジが認証を拒否しました (Smaregi rejected the credentials): Client authentication failed (invalid_client)'))
      .toBe('スマレジが認証を拒否しました: Client authentication failed (invalid_client)');
    expect(forOwner('カメラがエラーを返しました (HTTP 500)')).toBe('カメラがエラーを返しました (HTTP 500)');
    expect(forOwner('wrong email or password (for partners)')).toBe('wrong email or password (for partners)');
  });
});
