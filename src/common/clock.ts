// The injectable clock every program takes (milliseconds since the epoch), so tests can move time.
// Only app.ts files pass the real one.
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
