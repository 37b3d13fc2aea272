/** Where the project and the local stack's state live. */
import { join } from "node:path";

export const PROJECT_ROOT = join(import.meta.dirname!, "..");
/** Project-local, git-ignored: clusters, logs and pinned tools. */
export const STATE_DIR = join(PROJECT_ROOT, ".supabase-local");
export const TOOLS_DIR = join(STATE_DIR, "tools");
