// Card ↔ register matching (schema/investigate.graphql CardMatch) in words:
// what a mismatch means by the side it was seen on, shared by スタッフ分析's
// list of mismatches and a case's receipts.
import type { CardMatchSide, CardMatchState } from './gql/types';

/** What an UNMATCHED match means, by the side it was seen on. */
export const CARD_MISMATCH: Record<CardMatchSide, string> = {
  CARD: 'カード端末で返金されたのに、レジに取消がありません',
  REGISTER: 'レジでカード払いを取り消したのに、カード端末の返金がありません',
};

export const cardMismatchText = (side: CardMatchSide | string): string => CARD_MISMATCH[side as CardMatchSide] ?? side;

/** A receipt's match state as one short label: 「カード照合: 不一致（…）」, 「カード照合: 一致」. */
export function cardMatchLabel(m: { state: CardMatchState | string; side: CardMatchSide | string }): string {
  switch (m.state) {
    case 'UNMATCHED': return `カード照合: 不一致（${cardMismatchText(m.side)}）`;
    case 'MATCHED': return 'カード照合: 一致';
    case 'PENDING': return 'カード照合: 照合待ち';
    default: return `カード照合: ${m.state}`;
  }
}
