// The one polling helper: every screen that waits for the server (jobs, images, checks) uses it.

/**
 * Call `step()` after a wait, again and again, until it resolves truthy, `tries` calls were
 * made, or `stop()` is called. The wait starts at `first` ms and, once `growAfter` ms have
 * passed, grows by `grow` per call up to `every` ms.
 * Returns `{ done, stop }`: `done` resolves true when `step` said so, false otherwise.
 */
export function poll(step, { every = 1000, first = every, grow = 1, growAfter = 0, tries = Infinity } = {}) {
  let stopped = false;
  let timer = null;
  let wake = () => {};
  const done = (async () => {
    const started = performance.now();
    let delay = first;
    for (let i = 0; i < tries; i++) {
      await new Promise((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, delay);
      });
      if (stopped) return false;
      if (performance.now() - started > growAfter) delay = Math.min(every, delay * grow);
      if (await step()) return true;
      if (stopped) return false;
    }
    return false;
  })();
  return {
    done,
    stop() {
      stopped = true;
      clearTimeout(timer);
      wake();
    },
  };
}
