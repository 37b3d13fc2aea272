/**
 * The functions' entry points (index.ts) run as the edge runtime runs them, in a subprocess: a
 * malformed webhook secret stops the function at boot, naming the variable and never its value,
 * instead of answering 500 to every request.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const INHERITED = [
  "HOME",
  "PATH",
  "TMPDIR",
  "XDG_CACHE_HOME",
  "DENO_DIR",
  "DENO_CERT",
  "NPM_CONFIG_REGISTRY",
];
const BOOT_TIMEOUT_MS = 30_000;

interface Boot {
  /** The exit code, or "serving" when the function started listening instead. */
  outcome: number | "serving" | "timeout";
  output: string;
}

/** Runs supabase/functions/<name>/index.ts with `env` until it exits or starts serving. */
async function boot(name: string, env: Record<string, string>): Promise<Boot> {
  const inherited: Record<string, string> = {};
  for (const key of INHERITED) {
    const value = Deno.env.get(key);
    if (value !== undefined) inherited[key] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "--allow-read",
      `supabase/functions/${name}/index.ts`,
    ],
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: {
      ...inherited,
      NO_COLOR: "1",
      DENO_SERVE_ADDRESS: "tcp:127.0.0.1:0",
      SUPABASE_URL: "http://127.0.0.1:9",
      SUPABASE_SERVICE_ROLE_KEY: "service-role-key-for-boot-tests",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let listening: () => void = () => {};
  const serving = new Promise<"serving">((resolve) => listening = () => resolve("serving"));
  const pumps = [child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      if (/Listening on/.test(output)) listening();
    }
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), BOOT_TIMEOUT_MS)
  );
  const outcome = await Promise.race([child.status.then((s) => s.code), serving, timeout]);
  clearTimeout(timer);
  if (typeof outcome !== "number") child.kill("SIGKILL");
  await child.status;
  await Promise.all(pumps);
  return { outcome, output };
}

Deno.test("sendry-unsub refuses to start with a SENDRY_WEBHOOK_SECRET that is not base64 after whsec_", async () => {
  const value = "whsec_not*valid*base64!";
  const { outcome, output } = await boot("sendry-unsub", { SENDRY_WEBHOOK_SECRET: value });
  assert.notEqual(outcome, "serving", "it must not start serving");
  assert.notEqual(outcome, 0);
  assert.notEqual(outcome, "timeout");
  assert.match(output, /SENDRY_WEBHOOK_SECRET is not a valid webhook secret/);
  assert.ok(!output.includes("not*valid*base64"), "the value is not printed");
});

Deno.test("handleNewUser refuses to start when one of the AUTH_HOOK_SECRET secrets is not base64", async () => {
  const good = `v1,whsec_${btoa("auth-hook-key-for-boot-test")}`;
  const { outcome, output } = await boot("handleNewUser", {
    API_URL: "http://127.0.0.1:9/api",
    BACKEND_SECRET: "backend-secret-for-boot-test",
    HANDLE_NEW_USER_SECRET: "db-webhook-secret-for-boot-test",
    AUTH_HOOK_SECRET: `${good}|v1,whsec_%%bad%%`,
  });
  assert.notEqual(outcome, "serving", "it must not start serving");
  assert.notEqual(outcome, 0);
  assert.notEqual(outcome, "timeout");
  assert.match(output, /AUTH_HOOK_SECRET is not a valid webhook secret/);
  assert.ok(!output.includes("%%bad%%") && !output.includes(btoa("auth-hook-key-for-boot-test")));
});

Deno.test("sendry-unsub and handleNewUser start with well-formed secrets", async () => {
  const sendry = await boot("sendry-unsub", { SENDRY_WEBHOOK_SECRET: `whsec_${btoa("sendry-key")}` });
  assert.equal(sendry.outcome, "serving", sendry.output);
  const handleNewUser = await boot("handleNewUser", {
    API_URL: "http://127.0.0.1:9/api",
    BACKEND_SECRET: "backend-secret-for-boot-test",
    HANDLE_NEW_USER_SECRET: "db-webhook-secret-for-boot-test",
    AUTH_HOOK_SECRET: `v1,whsec_${btoa("a")} | v1,whsec_${btoa("b")}`,
  });
  assert.equal(handleNewUser.outcome, "serving", handleNewUser.output);
});
