/** Small helpers shared by the benchmarks: timing, medians, and writing bench/results/<name>.json. */
import { join } from "node:path";

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs `fn` `times` times and returns the elapsed milliseconds of each run. */
export async function timeRuns(times: number, fn: () => Promise<unknown>): Promise<number[]> {
  const runs: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await fn();
    runs.push(performance.now() - started);
  }
  return runs;
}

/** Writes the result as JSON beside the other results, stamped with the time and machine size. */
export function writeResult(name: string, result: Record<string, unknown>): void {
  const dir = join(import.meta.dirname!, "results");
  Deno.mkdirSync(dir, { recursive: true });
  const stamped = { measured_at: new Date().toISOString(), cpus: navigator.hardwareConcurrency, ...result };
  Deno.writeTextFileSync(join(dir, `${name}.json`), JSON.stringify(stamped, null, 2) + "\n");
}

export const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
