// The error-code → Japanese table: every reason the API can answer with
// (src/errors/reasons.json, written by `go generate ./apperr/` from
// apperr/reasons.go) has a plain Japanese sentence, and ApiError shows it.
import { describe, expect, it } from 'vitest';
import reasons from '../src/errors/reasons.json';
import { messages, messageFor, plainJapanese } from '../src/errors/messages';
import { ApiError } from '../src/api';

const japanese = /[\u3040-\u30ff\u4e00-\u9fff]/;

describe('reason table', () => {
  it('lists reasons the generator wrote (sorted, unique, UPPER_SNAKE)', () => {
    expect(reasons.length).toBeGreaterThan(50);
    expect([...reasons].sort()).toEqual(reasons);
    expect(new Set(reasons).size).toBe(reasons.length);
    for (const r of reasons) expect(r).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });

  it.each(reasons)('%s has a plain Japanese sentence', (reason) => {
    const m = messages[reason];
    expect(m, `no message for ${reason} in src/errors/messages.ts`).toBeTruthy();
    expect(m).toMatch(japanese);
    expect(plainJapanese(m), `English in the message for ${reason}: ${m}`).toBe(true);
    expect(m).not.toMatch(/[()]/); // no bracketed technical detail
  });

  it('has no sentence for a reason the API does not answer with', () => {
    expect(Object.keys(messages).filter((r) => !reasons.includes(r))).toEqual([]);
  });

  it('tells apart what needs different steps', () => {
    const distinct = ['SMAREGI_CLIENT_REJECTED', 'SMAREGI_CONTRACT_NOT_FOUND', 'SMAREGI_SCOPE_MISSING', 'TERMINAL_ID_NOT_NUMERIC',
      'SMAREGI_UNREACHABLE', 'PASSWORD_NEEDS_DIGIT', 'PASSWORD_TOO_SHORT', 'LOGIN_FAILED'];
    expect(new Set(distinct.map((r) => messages[r])).size).toBe(distinct.length);
  });
});

describe('ApiError', () => {
  it('shows the Japanese of the reason, not the server wording', () => {
    const err = new ApiError([{
      message: 'スマレジがクライアントIDまたはクライアントシークレットを受け付けませんでした (Smaregi rejected the client id or secret)',
      extensions: { code: 'BAD_USER_INPUT', reason: 'SMAREGI_CLIENT_REJECTED', field: 'input.clientSecret' },
    }, {
      message: 'パスワードに数字を含めてください (needs a digit)',
      extensions: { code: 'BAD_USER_INPUT', reason: 'PASSWORD_NEEDS_DIGIT', field: 'password' },
    }]);
    expect(err.fieldError('clientSecret')).toBe(messages.SMAREGI_CLIENT_REJECTED);
    expect(err.fieldError('clientSecret')).toContain('プラットフォーム API 設定');
    expect(err.fieldError('password')).toBe('パスワードに数字を1文字以上含めてください。');
    expect(err.message).not.toMatch(/[A-Za-z]{4,}/);
    expect(err.reason).toBe('SMAREGI_CLIENT_REJECTED');
    expect(err.errors[0].serverMessage).toContain('Smaregi rejected');
    expect(err.generalErrors(['clientSecret', 'password'])).toEqual([]);
  });

  it('keeps the server sentence that names the field and limit, without its English', () => {
    const err = new ApiError([{
      message: '店舗名は 200 バイト (全角で約 66 文字) 以内で入力してください (at most 200 bytes)',
      extensions: { code: 'BAD_USER_INPUT', reason: 'VALUE_TOO_LONG', field: 'input.name' },
    }]);
    expect(err.fieldError('name')).toBe('店舗名は 200 バイト (全角で約 66 文字) 以内で入力してください');
    // Nothing Japanese in the server's words: the table's sentence.
    expect(messageFor('VALUE_OUT_OF_RANGE', 'first must be between 1 and 200')).toBe(messages.VALUE_OUT_OF_RANGE);
    // A reason whose sentence the table owns ignores the server's wording.
    expect(messageFor('LOGIN_FAILED', 'メールアドレスまたはパスワードが違います (wrong email or password)')).toBe(messages.LOGIN_FAILED);
  });

  it('falls back to the Japanese part of an unknown reason, without English brackets', () => {
    const err = new ApiError([{
      message: 'スマレジが認証を拒否しました (Smaregi rejected the credentials): Client authentication failed (invalid_client)',
      extensions: { code: 'BAD_USER_INPUT', reason: 'SOMETHING_NEW' },
    }]);
    expect(err.message).toBe('スマレジが認証を拒否しました');
    expect(new ApiError([{ message: 'カーソルが不正です (malformed cursor): use an edge cursor' }]).message).toBe('カーソルが不正です');
    expect(new ApiError([{ message: 'サーバーエラー (HTTP 500)', extensions: { code: 'INTERNAL' } }]).message).toBe('サーバーエラー (HTTP 500)');
    // Nothing Japanese at all: the generic sentence, not English.
    expect(new ApiError([{ message: 'internal error', extensions: { code: 'INTERNAL' } }]).message).toBe(messages.INTERNAL);
  });
});
