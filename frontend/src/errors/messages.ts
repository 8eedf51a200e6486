// What the owner reads when the server refuses something: one plain
// Japanese sentence per reason (extensions.reason, apperr/reasons.go) that
// says what to do next. The server's own message is worded for partners
// too (Japanese, then English in brackets) and stays on the wire.
// reasons.json is written by `go generate ./apperr/`; test/errors.test.ts
// fails when a reason there has no sentence here.

/** Reason → the sentence shown. */
export const messages: Record<string, string> = {
  // The generic reason of each code: nothing more specific was said.
  BAD_USER_INPUT: '入力内容を確認してください。',
  UNAUTHENTICATED: 'ログインしてください。',
  FORBIDDEN: 'この操作の権限がありません。必要な場合はオーナーか管理者に依頼してください。',
  NOT_FOUND: '見つかりません。削除されたか、表示する権限がない可能性があります。',
  CONFLICT: 'ほかの変更と重なりました。画面を読み込み直してから、もう一度お試しください。',
  RATE_LIMITED: '操作が集中しています。少し待ってから、もう一度お試しください。',
  INTERNAL: 'サーバーでエラーが起きました。時間をおいてもう一度お試しください。続く場合はサポートに連絡してください。',
  BAD_REQUEST: '要求を処理できませんでした。画面を読み込み直してから、もう一度お試しください。',
  UNAVAILABLE: 'サーバーが一時的に応答していません。しばらく待ってから、もう一度お試しください。保存はされていません。',

  // A field's value.
  REQUIRED: 'この項目を入力してください。',
  VALUE_TOO_LONG: '長すぎます。短くしてください。',
  LENGTH_OUT_OF_RANGE: '入力されていないか、長すぎます。',
  VALUE_OUT_OF_RANGE: '指定できる範囲を超えています。',
  INVALID_CHOICE: '選べない値です。一覧から選んでください。',
  INVALID_FORMAT: '形式が正しくありません。',
  INVALID_ID: '指定された ID の形式が正しくありません。画面を読み込み直してください。',
  INVALID_TEXT: '使えない文字（改行や制御文字）が含まれています。取り除いてください。',
  INVALID_TIME: '時刻は「09:30」のように時と分で入力してください。',
  TIMEZONE_UNKNOWN: 'タイムゾーンが正しくありません。「Asia/Tokyo」のように入力してください。',
  TOO_MANY_ITEMS: '一度に指定できる数を超えています。分けて操作してください。',
  DUPLICATE_IN_LIST: '同じものが二度指定されています。重複を取り除いてください。',
  NOTHING_SELECTED: '対象を一つ以上選んでください。',
  MUTUALLY_EXCLUSIVE: '同時には指定できない項目があります。どちらか一方にしてください。',
  RANGE_REVERSED: '開始が終了より後になっています。順番を確認してください。',
  RANGE_TOO_LONG: '期間が長すぎます。期間を短くしてください。',
  DATE_IN_FUTURE: '未来の日時は指定できません。',
  EXPIRY_IN_PAST: '有効期限は今より後の日時にしてください。',
  CURSOR_INVALID: '一覧の続きを読み込めませんでした。画面を読み込み直してください。',
  OPEN_EQUALS_CLOSE: '開店と閉店が同じ時刻です。深夜をまたぐ場合は、閉店を開店より前の時刻にしてください。',
  CARD_NUMBER_NOT_MASKED: 'カード番号は先頭6桁と末尾2桁以外を「*」で伏せてください。',
  MIXED_TIMEZONES: 'タイムゾーンの異なる店舗はまとめて集計できません。店舗を分けて集計してください。',
  STAFF_UNKNOWN: 'この担当者の記録がありません。担当者名を確認してください。',
  QUERY_INVALID: '画面とサーバーの版が合っていません。画面を読み込み直してください。',

  // Clashes with what is stored.
  NAME_TAKEN: '同じ名前がすでにあります。別の名前にしてください。',
  EMAIL_TAKEN: 'このメールアドレスはすでに登録されています。',
  DEVICE_ID_TAKEN: 'このデバイス ID はすでにほかのカメラで使われています。カメラ本体のデバイス ID を確認してください。',
  TERMINAL_ID_TAKEN: 'この端末 ID はこの連携にすでにあります。',
  TERMINAL_ALREADY_LINKED: 'このレジはすでに別のカメラと連携しています。カメラを変えるには連携設定の一覧から変更してください。',
  CHANGED_CONCURRENTLY: 'ほかの人が同時に変更しました。画面を読み込み直してから、もう一度お試しください。',
  LAST_OWNER: '最後のオーナーは変更・削除できません。先にほかの人をオーナーにしてください。',
  BACKFILL_RUNNING: '過去データの取り込みがすでに実行中です。終わるまでお待ちください。',

  // Signing in, sessions, keys and permissions.
  LOGIN_FAILED: 'メールアドレスまたはパスワードが違います。続けて間違えると、しばらく待たないとログインできません。',
  CURRENT_PASSWORD_WRONG: '現在のパスワードが違います。続けて間違えると、しばらく待たないと受け付けません。',
  NOT_SIGNED_IN: 'ログインしてください。',
  SESSION_INVALID: 'ログインの有効期限が切れました。ログインし直してください。',
  SESSION_ENDED: 'ログアウトされました。ログインし直してください。',
  IP_NOT_ALLOWED: 'この場所（IP アドレス）からは利用できない設定です。許可された場所から接続するか、オーナーに設定を確認してもらってください。',
  IP_RANGE_INVALID: 'IP アドレスの範囲は「192.168.1.0/24」のように入力してください。',
  API_KEY_INVALID: 'API キーが正しくありません。設定画面で発行したキーを確認してください。',
  API_KEY_REVOKED: 'この API キーは無効にされています。新しいキーを発行してください。',
  API_KEY_EXPIRED: 'この API キーは有効期限が切れています。新しいキーを発行してください。',
  OWNER_ONLY: 'この変更はオーナーだけができます。',
  ADMIN_ONLY: 'この変更はオーナーか管理者だけができます。',
  CANNOT_DELETE_SELF: '自分自身は削除できません。ほかのオーナーに依頼してください。',
  EMAIL_INVALID: 'メールアドレスの形式が正しくありません。',

  // Passwords.
  PASSWORD_TOO_SHORT: 'パスワードは8文字以上にしてください。',
  PASSWORD_TOO_LONG: 'パスワードは256文字以内にしてください。',
  PASSWORD_NEEDS_DIGIT: 'パスワードに数字を1文字以上含めてください。',
  PASSWORD_NEEDS_UPPER: 'パスワードに英大文字を1文字以上含めてください。',
  PASSWORD_NEEDS_LOWER: 'パスワードに英小文字を1文字以上含めてください。',
  PASSWORD_REUSED: '最近使ったパスワードは使えません。別のパスワードにしてください。',

  // Cameras.
  CAMERA_RETIRED: 'このカメラは退役済みのため、変更や連携はできません。',
  CAMERA_STILL_LINKED: 'このカメラはまだレジと連携しています。先に連携設定でレジとの連携を解除してください。',
  CAMERA_NO_POS_OPTION: 'このカメラにはレジ連携の機能がないため、レジと連携できません。',
  CAMERA_NOT_RECORDED: 'このカメラは映像を記録していません。カメラ設定で映像の取得元を設定してください。',
  CAMERA_NO_PICTURE_YET: 'まだ映像が届いていません。少し待ってから開き直してください。',
  CAMERA_URL_REQUIRED: 'カメラの映像の URL を入力してください。',
  CAMERA_URL_NOT_ALLOWED: 'シミュレーションカメラには URL を指定できません。URL の欄を空にしてください。',
  CAMERA_URL_INVALID: 'URL の形式が正しくありません。カメラの説明書にある映像の URL をそのまま入力してください。',
  CAMERA_URL_SCHEME: 'この種類のカメラには使えない URL です。「http://」などで始まる、種類に合った URL を入力してください。',
  CAMERA_URL_NO_HOST: 'URL にカメラのアドレスがありません。「http://カメラのアドレス/パス」の形で入力してください。',
  CAMERA_URL_REFUSED: 'この URL はこのサーバーからは接続できない設定です。サーバーの管理者に確認してください。',
  CAMERA_SNAPSHOT_URL_NOT_RTSP: '静止画URLは、映像の種類が RTSP のカメラにだけ設定できます。静止画URLの欄を空にしてください。',
  CAMERA_SNAPSHOT_URL_SCHEME: '静止画URLは「http://」か「https://」で始まる、カメラの JPEG 静止画の URL を入力してください。',
  CAMERA_UNREACHABLE: 'カメラに接続できませんでした。カメラの電源とネットワーク、URL のアドレスを確認してください。',
  CAMERA_TIMEOUT: 'カメラから時間内に映像が届きませんでした。カメラの電源とネットワークを確認して、もう一度テストしてください。',
  CAMERA_AUTH_REFUSED: 'カメラがユーザー名またはパスワードを受け付けませんでした。カメラに設定したログイン情報を入力してください。',
  CAMERA_NOT_JPEG: 'カメラから画像を読み取れませんでした。静止画（JPEG）または動画の URL か、種類の選択を確認してください。',
  CAMERA_TLS: 'カメラの証明書を確認できませんでした。カメラの証明書の設定か、「http://」の URL を確認してください。',
  CAMERA_HTTP_STATUS: 'カメラがエラーを返しました。URL のパスが正しいか確認してください。',
  CAMERA_RTSP: 'この URL は RTSP の映像ではないようです。カメラの説明書にある RTSP の URL を入力してください。',
  CAMERA_TEST_FAILED: 'カメラの映像を取得できませんでした。URL とカメラの状態を確認してください。',
  SECRET_KEY_MISSING: 'このサーバーには暗号化の鍵が設定されていないため、ログイン情報を保存できません。サーバーの管理者に連絡してください。',

  // POS connections, terminals, alerts' webhooks.
  FEATURE_DISABLED: 'この機能はこのサーバーでは有効になっていません。サーバーの管理者に連絡してください。',
  TERMINALS_FROM_PROVIDER: 'この連携の端末は連携先から自動で取り込まれます。手動では追加できません。',
  TERMINAL_LIMIT: 'この連携の端末数が上限に達したため、新しい端末は自動では追加されません。',
  TERMINAL_ID_NOT_NUMERIC: '端末 ID は数字で入力してください。スマレジの管理画面の「端末」の一覧で確認できます。',
  BACKFILL_UNSUPPORTED: 'この連携は過去データの取り込みに対応していません。',
  POLLING_UNSUPPORTED: 'この連携は連携先からの自動取得や照合に対応していません。取引は連携先から送られてきたものだけを記録します。',
  SMAREGI_CONTRACT_ID_INVALID: '契約 ID に使えない文字が含まれています。スマレジの契約 ID をそのまま入力してください。',
  SMAREGI_CONTRACT_NOT_FOUND: 'この契約 ID はスマレジにありません。スマレジの管理画面に表示される契約 ID を確認してください。',
  SMAREGI_CLIENT_REJECTED: 'クライアント ID またはシークレットが違います。スマレジの『プラットフォーム API 設定』で確認してください。',
  SMAREGI_SCOPE_MISSING: 'このアプリには取引と店舗を読む権限がありません。スマレジのアプリ設定で、取引と店舗の参照の権限を有効にしてください。',
  SMAREGI_UNREACHABLE: 'スマレジに接続できませんでした。時間をおいてもう一度お試しください。',
  WEBHOOK_URL_INVALID: '通知先の URL は「https://」で始まる形で入力してください。',
  WEBHOOK_URL_PRIVATE: '社内ネットワークやこのサーバー自身の URL は通知先にできません。インターネットから届く URL を入力してください。',
  ALERT_NO_WEBHOOK_URL: 'このルールには通知先の URL がありません。先に URL を設定してください。',

  // Camera-cloud connections (Safie) and their cameras.
  SAFIE_AUTH: 'Safie が API キーを受け付けませんでした。Safie の開発者向けサイトで発行した API キーを確認して、もう一度入力してください。',
  SAFIE_UNREACHABLE: 'Safie に接続できませんでした。時間をおいてもう一度お試しください。',
  SAFIE_BAD_RESPONSE: 'Safie から読み取れない応答が返りました。時間をおいてもう一度お試しください。続く場合はサポートに連絡してください。',
  CLOUD_CAMERA_READONLY: 'このカメラは Safie から取り込んだカメラです。名前や設定は Safie 側で変更してください。次の同期で反映されます。',
  CAMERA_CLOUD_NOT_FOUND: 'このカメラクラウドの接続は見つかりません。解除された可能性があります。画面を読み込み直してください。',
  CAMERA_CLOUD_NAME_TAKEN: '同じ名前のカメラクラウドの接続がすでにあります。別の名前にしてください。',
  RECORDINGS_RANGE: '録画の有無を調べられるのは72時間までです。表示期間を短くしてください。',
  SAFIE_OAUTH_STATE: 'Safie との接続を確認できませんでした。設定画面からもう一度「Safie でログインして接続」を押してください。',
  SAFIE_OAUTH_DENIED: 'Safie で接続が許可されませんでした。Safie の画面で「許可」を選んでください。',

  // Back from Ubiregi's consent page (?error=…&reason=…).
  UBIREGI_STATE_MISMATCH: 'ユビレジとの連携を確認できませんでした。ポータルからもう一度「ユビレジと連携」を押してください。',
  UBIREGI_DENIED: 'ユビレジで連携が許可されませんでした。ユビレジの画面で「許可」を選んでください。',
  UBIREGI_TOKEN_FAILED: 'ユビレジから連携の許可を受け取れませんでした。時間をおいてもう一度連携してください。',
  UBIREGI_ACCOUNT_FAILED: 'ユビレジのアカウント情報を読めませんでした。時間をおいてもう一度連携してください。',
};

/** Reasons whose server sentence names the field, the limit or the item
 *  (「店舗名を入力してください」「指定できるのは 100 件までです」): its
 *  Japanese part is shown, the table's sentence when it has none. */
export const SERVER_WORDED = new Set([
  'REQUIRED', 'VALUE_TOO_LONG', 'LENGTH_OUT_OF_RANGE', 'VALUE_OUT_OF_RANGE', 'TOO_MANY_ITEMS', 'DUPLICATE_IN_LIST',
  'RANGE_TOO_LONG', 'NOT_FOUND', 'NAME_TAKEN', 'DEVICE_ID_TAKEN', 'TERMINAL_ID_TAKEN', 'TERMINAL_ALREADY_LINKED',
  'CAMERA_STILL_LINKED', 'CAMERA_RETIRED', 'CAMERA_NO_POS_OPTION', 'TERMINAL_LIMIT', 'INVALID_CHOICE',
]);

/** Latin words a Japanese sentence may hold: product and technical names
 *  an owner sees on the device itself. */
const ALLOWED_LATIN = new Set(['Safie', 'ID', 'URL', 'API', 'POS', 'HTTP', 'HTTPS', 'IP', 'JSON', 'JPEG', 'RTSP', 'Asia', 'Tokyo', 'https', 'http']);

/** Whether s has no Latin word outside ALLOWED_LATIN: nothing English. */
export function plainJapanese(s: string): boolean {
  return (s.match(/[A-Za-z][A-Za-z_-]*/g) ?? []).every((w) => ALLOWED_LATIN.has(w));
}

/** The Japanese part of a server message: brackets and a trailing clause
 *  holding English words dropped; values the sentence quotes (a device
 *  id, a scheme) stay. '' when nothing Japanese is left. */
export function japanesePart(message: string): string {
  let s = message.replace(/\s*\(([^()]*)\)/g, (all, inner: string) => (plainJapanese(inner) ? all : ''));
  s = s.replace(/:\s*[\x20-\x7e]*$/, (tail) => (plainJapanese(tail) ? tail : '')).trim();
  return /[\u3040-\u30ff\u4e00-\u9fff]/.test(s) ? s : '';
}

/** The sentence for one server error: the table's for a known reason (or
 *  the server's own Japanese where it names the field or the limit), else
 *  the Japanese part of the message, else a generic one. */
/** Whether the table has a sentence for reason (its own key, not one
 *  inherited from Object such as "constructor"). */
export function knownReason(reason: string): boolean {
  return Object.prototype.hasOwnProperty.call(messages, reason);
}

export function messageFor(reason: string | undefined, serverMessage: string): string {
  const ja = japanesePart(serverMessage);
  if (reason && knownReason(reason)) {
    if (SERVER_WORDED.has(reason) && ja) return ja;
    return messages[reason];
  }
  return ja || messages.INTERNAL;
}
