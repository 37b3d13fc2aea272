/**
 * supabase/functions/_shared/supabase_client.ts: the admin client sends the secret key, keeps no
 * session and calls RPCs where PostgREST serves them.
 */
import assert from "node:assert/strict";
import { createAdminClient } from "../../supabase/functions/_shared/supabase_client.ts";

Deno.test("createAdminClient() calls /rest/v1/rpc with the secret key and its client info", async () => {
  const seen: Request[] = [];
  const fakeFetch: typeof fetch = (input, init) => {
    seen.push(new Request(input, init));
    return Promise.resolve(Response.json("provisioned"));
  };
  const client = createAdminClient(
    { url: "http://127.0.0.1:1", secretKey: "sb_secret_test" },
    { fetch: fakeFetch, clientInfo: "unit-test" },
  );
  const { data, error } = await client.rpc("rpc_record_user_provisioning", {
    p_user_id: "00000000-0000-0000-0000-000000000001",
    p_status: "provisioned",
  });
  assert.equal(error, null);
  assert.equal(data, "provisioned");
  assert.equal(seen.length, 1);
  const req = seen[0];
  assert.equal(req.method, "POST");
  assert.equal(new URL(req.url).pathname, "/rest/v1/rpc/rpc_record_user_provisioning");
  assert.equal(req.headers.get("apikey"), "sb_secret_test");
  assert.equal(req.headers.get("x-client-info"), "unit-test");
  assert.deepEqual(await req.json(), {
    p_user_id: "00000000-0000-0000-0000-000000000001",
    p_status: "provisioned",
  });
});

Deno.test("createAdminClient() keeps no session: nothing is stored and no token refresh runs", async () => {
  const client = createAdminClient({ url: "http://127.0.0.1:1", secretKey: "k" }, {
    fetch: () => Promise.resolve(Response.json({})),
  });
  const { data } = await client.auth.getSession();
  assert.equal(data.session, null);
  // With persistSession off, supabase-js uses an in-memory store; no localStorage key appears.
  assert.equal(globalThis.localStorage?.length ?? 0, 0);
});
