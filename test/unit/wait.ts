/**
 * Waiting for conditions in unit tests, never for time: `until` polls a
 * condition, `settle` lets the event loop handle the I/O already pending.
 */

/** Poll `cond` (every millisecond or so) until it holds; throws naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Let the event loop go round `turns` times (at least 2): each turn through
 * setImmediate puts a poll phase of libuv (where a Poller's epoll fd is
 * read) in between, so every I/O event pending when this is called has been
 * dispatched when it returns.
 */
export async function settle(turns = 2): Promise<void> {
  for (let i = 0; i < Math.max(turns, 2); i++) await new Promise((r) => setImmediate(r));
}
