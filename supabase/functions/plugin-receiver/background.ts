/**
 * Work that continues after the response: `EdgeRuntime.waitUntil` on Supabase keeps the worker alive
 * until the promise settles. Plain Deno (the local stack, tests) has no EdgeRuntime; there the
 * fallback keeps a reference to each promise so it still runs to the end, and `idle()` waits for all.
 */
export type WaitUntil = (work: Promise<unknown>) => void;

interface EdgeRuntimeGlobal {
  EdgeRuntime?: { waitUntil?: (work: Promise<unknown>) => void };
}

export interface Background {
  waitUntil: WaitUntil;
  /** Resolves once every piece of work handed over so far has settled. */
  idle(): Promise<void>;
}

export function createBackground(): Background {
  const pending = new Set<Promise<unknown>>();
  const edge = (globalThis as EdgeRuntimeGlobal).EdgeRuntime;
  const waitUntil: WaitUntil = (work) => {
    // Never let a failure become an unhandled rejection; the work logs its own errors.
    const tracked = work.catch(() => {}).finally(() => pending.delete(tracked));
    pending.add(tracked);
    if (typeof edge?.waitUntil === "function") edge.waitUntil(tracked);
  };
  return {
    waitUntil,
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
