// Inline icons (no emoji: kiosk and server machines often lack an emoji font).
const svg = { width: 16, height: 16, viewBox: '0 0 16 16', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5, 'aria-hidden': true } as const;

export const CalendarIcon = () => (
  <svg {...svg}><rect x="2" y="3" width="12" height="11" rx="1.5" /><path d="M2 6.5h12M5.5 1.5v3M10.5 1.5v3" /></svg>
);

export const TrashIcon = () => (
  <svg {...svg}><path d="M2.5 4h11M6 4V2.5h4V4M4 4l.7 9.5h6.6L12 4M6.8 6.5v5M9.2 6.5v5" /></svg>
);

export const PlusIcon = () => (
  <svg {...svg} stroke-width={2}><path d="M8 3v10M3 8h10" /></svg>
);
