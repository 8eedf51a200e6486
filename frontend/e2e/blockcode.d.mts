// Types of e2e/blockcode.mjs for the Vitest tests (test/blockcode.test.ts).
export function decodeBlockCode(data: ArrayLike<number>, width: number, height: number): { ms: number } | { error: string };
export function drawBlockCode(data: Uint8ClampedArray, ms: number): void;
