/**
 * Ctrl-C for the commands that start a throwaway cluster (`deno task test`, `types`, `bench`).
 *
 * By default Deno dies at once on SIGINT, without running `finally` blocks. Its child processes get
 * the terminal's SIGINT too, but PostgreSQL does not: pg_ctl starts the server in a session of its
 * own. So the command would leave a running server and its folder behind. With this guard it stops
 * its remaining child processes, runs its cleanup (which stops and removes the cluster), and exits
 * with 130, as a process ended by SIGINT does.
 */

export interface InterruptGuard {
  /** The signal that interrupted the command, if one did. */
  readonly signal: Deno.Signal | undefined;
  /** Restores the default handling (call it once the cleanup has run normally). */
  dispose(): void;
}

/** The signals that end a command: Ctrl-C, a kill, a closed terminal. */
export const STOP_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * On SIGINT, SIGTERM or SIGHUP: terminates this process's descendants, awaits `cleanup` and exits
 * with 130. `cleanup` must be safe to call twice (the command's own `finally` may run it too).
 */
export function cleanUpOnInterrupt(
  cleanup: () => Promise<void>,
  log: (line: string) => void = (line) => console.error(line),
): InterruptGuard {
  let signal: Deno.Signal | undefined;
  const listeners = STOP_SIGNALS.map((name) => {
    const listener = async () => {
      if (signal) return; // A second Ctrl-C while cleaning up changes nothing.
      signal = name;
      say(log, `\n${name}: interrupted; stopping the processes and the cluster this run started ...`);
      terminateDescendants();
      try {
        await cleanup();
        // Anything the main flow started while the cleanup ran.
        terminateDescendants();
        say(log, `interrupted by ${name}: nothing of this run is left running`);
      } catch (error) {
        terminateDescendants();
        say(
          log,
          `interrupted by ${name}; the cleanup failed: ${error instanceof Error ? error.message : error}`,
        );
      }
      Deno.exit(130);
    };
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  return {
    get signal() {
      return signal;
    },
    dispose() {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    },
  };
}

/** A closed stdout (the parent went away) must not stop the cleanup. */
function say(log: (line: string) => void, line: string): void {
  try {
    log(line);
  } catch {
    // Nobody is listening.
  }
}

/** SIGTERM to every process below this one (children first found, grandchildren included). */
export function terminateDescendants(): void {
  for (const pid of descendantsOf(Deno.pid)) {
    try {
      Deno.kill(pid, "SIGTERM");
    } catch {
      // It has exited already.
    }
  }
}

/** Pids of the live descendants of `root`, read from /proc (Linux, which the local stack needs). */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc")];
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // After "pid (command) ": state, ppid, ... (the command may contain spaces and parentheses).
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const siblings = children.get(ppid) ?? [];
      siblings.push(Number(entry.name));
      children.set(ppid, siblings);
    } catch {
      // It exited while we looked.
    }
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}
