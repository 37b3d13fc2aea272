-- Local stand-in for pg_net 0.20.0 (https://github.com/supabase/pg_net).
--
-- Same schema, tables, types and functions as the real extension, written in SQL and PL/pgSQL instead
-- of C. Requests are queued in net.http_request_queue exactly like pg_net does; local/net_worker.ts
-- plays the background worker: it LISTENs on the `pg_net` channel, sends the requests and writes
-- net._http_response. NOTIFY is delivered at commit only, so a rolled back request is never sent.

\echo Use "create extension pg_net" to load this file. \quit

create schema if not exists net;

create domain net.http_method as text
check (
  value ilike 'get'
  or value ilike 'post'
  or value ilike 'delete'
);

-- Pending requests; the worker deletes a row in the same transaction that stores its response.
create unlogged table net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null
);

-- Responses (and errors) of sent requests; rows older than pg_net.ttl are purged by the worker.
create unlogged table net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);

create index on net._http_response (created);

-- Lifecycle states of a request (all protocols)
create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');

-- A response from an HTTP server
create type net.http_response as (
  status_code integer,
  headers jsonb,
  body text
);

-- State wrapper around responses
create type net.http_response_result as (
  status net.request_status,
  message text,
  response net.http_response
);

-- local/net_worker.ts connects with application_name 'pg_net 0.20.0', the name the real worker
-- reports; its sessions are what these two functions look for.
create function net.check_worker_is_up()
  returns void
  language plpgsql
as $$
begin
  if not exists (
    select 1
    from pg_stat_activity
    where application_name like 'pg_net %' and datname = current_database()
  ) then
    raise exception using
      message = 'the pg_net background worker is not up',
      detail = 'the pg_net background worker is down due to an internal error and cannot process requests',
      hint = 'make sure that you didn''t modify any of pg_net internal tables';
  end if;
end
$$;

comment on function net.check_worker_is_up() is
  'raises an exception if the pg_net background worker is not up, otherwise it doesn''t return anything';

-- Blocks until an http_request is complete
create function net._await_response(request_id bigint)
  returns bool
  language plpgsql
as $$
declare
  rec net._http_response;
begin
  while rec is null loop
    select * into rec from net._http_response where id = request_id;
    if rec is null then
      -- Wait 50 ms before checking again
      perform pg_sleep(0.05);
    end if;
  end loop;
  return true;
end;
$$;

-- Percent-encodes like curl_escape(): every byte except ALPHA / DIGIT / "-" / "." / "_" / "~".
create function net._urlencode_string(string varchar)
  returns text
  language sql
  immutable
as $$
  select case when string is null then null else coalesce((
    select string_agg(
      case
        when b between 48 and 57 or b between 65 and 90 or b between 97 and 122 or b in (45, 46, 95, 126)
          then chr(b)
        else '%' || upper(lpad(to_hex(b), 2, '0'))
      end,
      '' order by i
    )
    from (
      select i, get_byte(bytes, i) as b
      from (select convert_to(string, 'UTF8') as bytes) as s,
        generate_series(0, octet_length(bytes) - 1) as i
    ) as t
  ), '') end
$$;

-- Validates and normalises `url` the way curl's URL API (curl_url_set / curl_url_get) does and appends
-- the already encoded `key=value` params to its query. Errors use pg_net's wording:
-- invalid URL "<url>": <curl_url_strerror text>.
create function net._encode_url_with_params_array(url text, params_array text[])
  returns text
  language plpgsql
  immutable
as $$
declare
  -- schemes libcurl knows; only http and https are sent, the others fail in the worker like in pg_net
  known_schemes constant text[] := array[
    'dict', 'file', 'ftp', 'ftps', 'gopher', 'gophers', 'http', 'https', 'imap', 'imaps', 'ldap', 'ldaps',
    'mqtt', 'pop3', 'pop3s', 'rtmp', 'rtmpe', 'rtmps', 'rtmpt', 'rtmpte', 'rtmpts', 'rtsp', 'scp', 'sftp',
    'smb', 'smbs', 'smtp', 'smtps', 'telnet', 'tftp', 'ws', 'wss'
  ];
  scheme text;
  rest text;
  slashes int;
  authority text;
  userinfo text;
  hostport text;
  host text;
  port text;
  path text;
  query text;
  fragment text;
  segments text[];
  kept text[] := '{}';
  n int;
  param text;
begin
  if url is null or params_array is null then
    return null;
  end if;

  scheme := lower(substring(url from '^([A-Za-z0-9+.-]{1,40}):'));
  if scheme is null then
    raise exception 'invalid URL "%": Bad scheme', url;
  end if;
  if not scheme = any (known_schemes) then
    raise exception 'invalid URL "%": Unsupported URL scheme', url;
  end if;

  -- split off the fragment and the query; params are appended to the query
  rest := url;
  if strpos(rest, '#') > 0 then
    fragment := substr(rest, strpos(rest, '#') + 1);
    rest := left(rest, strpos(rest, '#') - 1);
  end if;
  if strpos(rest, '?') > 0 then
    query := substr(rest, strpos(rest, '?') + 1);
    rest := left(rest, strpos(rest, '?') - 1);
  end if;
  foreach param in array params_array loop
    if param is not null then
      query := case when coalesce(query, '') = '' then param else query || '&' || param end;
    end if;
  end loop;
  query := case when query <> '' then '?' || query else '' end;
  fragment := case when fragment <> '' then '#' || fragment else '' end;

  if scheme not in ('http', 'https') then
    -- never sent: the worker records "Unsupported protocol" for it, as pg_net does
    return rest || query || fragment;
  end if;

  rest := substr(rest, length(scheme) + 2);
  slashes := length(substring(rest from '^/*'));
  if slashes not between 1 and 3 then
    raise exception 'invalid URL "%": Unsupported number of slashes following scheme', url;
  end if;
  rest := substr(rest, slashes + 1);
  authority := substring(rest from '^[^/]*');
  path := substr(rest, length(authority) + 1);

  if strpos(authority, '@') > 0 then
    userinfo := substring(authority from '^(.*)@');
    hostport := substring(authority from '^.*@(.*)$');
  else
    hostport := authority;
  end if;

  if left(hostport, 1) = '[' then
    host := substring(hostport from '^\[[^\]]*\]');
    if host is null or host !~ '^\[[0-9A-Fa-f:.]+(%(25)?[A-Za-z0-9._~-]+)?\]$' then
      raise exception 'invalid URL "%": Bad IPv6 address', url;
    end if;
    port := substr(hostport, length(host) + 1);
    if port <> '' and left(port, 1) <> ':' then
      raise exception 'invalid URL "%": Port number was not a decimal number between 0 and 65535', url;
    end if;
    port := substr(port, 2);
  else
    host := split_part(hostport, ':', 1);
    port := case when strpos(hostport, ':') > 0
      then substr(hostport, strpos(hostport, ':') + 1) else '' end;
  end if;

  if port <> '' then
    if port !~ '^[0-9]{1,10}$' or port::bigint > 65535 then
      raise exception 'invalid URL "%": Port number was not a decimal number between 0 and 65535', url;
    end if;
    port := port::int::text;
  end if;
  if host = '' then
    raise exception 'invalid URL "%": No host part in the URL', url;
  end if;
  if left(host, 1) <> '['
    and regexp_replace(host, '%[0-9A-Fa-f]{2}', '', 'g') ~ '[\x01-\x20\x7f/:#?!@{}\[\]\\$''"^`*<>=;,+&()%]'
  then
    raise exception 'invalid URL "%": Bad hostname', url;
  end if;
  if path ~ '[\x01-\x20\x7f]' then
    raise exception 'invalid URL "%": Bad path', url;
  end if;
  -- the appended params are percent-encoded, so only the caller's own query or fragment can fail here
  if query ~ '[\x01-\x20\x7f]' then
    raise exception 'invalid URL "%": Bad query', url;
  end if;
  if fragment ~ '[\x01-\x20\x7f]' then
    raise exception 'invalid URL "%": Bad fragment', url;
  end if;

  -- remove_dot_segments (RFC 3986), as curl does
  if path = '' then
    path := '/';
  elsif path ~ '/\.\.?(/|$)' then
    segments := string_to_array(substr(path, 2), '/');
    n := cardinality(segments);
    for i in 1..n loop
      if segments[i] = '..' then
        kept := kept[1:cardinality(kept) - 1];
      elsif segments[i] <> '.' then
        kept := kept || segments[i];
      end if;
      if i = n and segments[i] in ('.', '..') then
        kept := kept || ''::text;
      end if;
    end loop;
    path := '/' || array_to_string(kept, '/');
  end if;

  return scheme || '://'
    || coalesce(userinfo || '@', '')
    || host
    || case when port <> '' then ':' || port else '' end
    || path || query || fragment;
end
$$;

-- Wakes the worker when the calling transaction commits (NOTIFY is only delivered at commit, and
-- identical notifications in one transaction are folded into one).
create function net.wake()
  returns void
  language sql
as $$
  select pg_notify('pg_net', 'wake')
$$;

-- Reloads the server configuration and tells the worker to restart; like pg_net it returns the result
-- of pg_reload_conf() and any role may call it.
create function net.worker_restart()
  returns bool
  language plpgsql
  security definer
  set search_path = ''
as $$
begin
  perform pg_notify('pg_net', 'restart');
  return pg_reload_conf();
end
$$;

create function net.wait_until_running()
  returns void
  language plpgsql
as $$
begin
  while not exists (
    select 1
    from pg_stat_activity
    where application_name like 'pg_net %' and datname = current_database()
  ) loop
    perform pg_sleep(0.05);
  end loop;
end
$$;

comment on function net.wait_until_running() is 'waits until the worker is running';

-- Interface to make an async request
-- API: Public
create function net.http_get(
  -- url for the request
  url text,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000
)
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params_array(url, params_array), headers, timeout_milliseconds)
  returning id into request_id;

  perform net.wake();

  return request_id;
end
$$;

comment on function net.http_get(text, jsonb, jsonb, int) is
  'queues an asynchronous GET request, sent after commit; returns the request id';

-- Interface to make an async request
-- API: Public
create function net.http_post(
  -- url for the request
  url text,
  -- body of the POST request
  body jsonb default '{}'::jsonb,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000
)
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
  content_type text;
begin
  -- Extract the content_type from headers
  select header_value into content_type
  from jsonb_each_text(coalesce(headers, '{}'::jsonb)) as r(header_name, header_value)
  where lower(header_name) = 'content-type'
  limit 1;

  -- If the user provided new headers and omitted the content type, add it back in automatically
  if content_type is null then
    headers := headers || '{"Content-Type": "application/json"}'::jsonb;
  end if;

  -- Confirm that the content-type is set as "application/json"
  if content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (
    'POST',
    net._encode_url_with_params_array(url, params_array),
    headers,
    convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  )
  returning id into request_id;

  perform net.wake();

  return request_id;
end
$$;

comment on function net.http_post(text, jsonb, jsonb, jsonb, int) is
  'queues an asynchronous POST request with a JSON body (the bytes of body::text), sent after commit; returns the request id';

-- Interface to make an async request
-- API: Public
create function net.http_delete(
  -- url for the request
  url text,
  -- key/value pairs to be url encoded and appended to the `url`
  params jsonb default '{}'::jsonb,
  -- key/values to be included in request headers
  headers jsonb default '{}'::jsonb,
  -- the maximum number of milliseconds the request may take before being cancelled
  timeout_milliseconds int default 5000,
  -- optional body of the request
  body jsonb default null
)
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
  into params_array
  from jsonb_each_text(params);

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (
    'DELETE',
    net._encode_url_with_params_array(url, params_array),
    headers,
    convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  )
  returning id into request_id;

  perform net.wake();

  return request_id;
end
$$;

comment on function net.http_delete(text, jsonb, jsonb, int, jsonb) is
  'queues an asynchronous DELETE request, sent after commit; returns the request id';

-- Collect respones of an http request
-- API: Private
create function net._http_collect_response(
  -- request_id reference
  request_id bigint,
  -- when `true`, return immediately. when `false` wait for the request to complete before returning
  async bool default true
)
  returns net.http_response_result
  language plpgsql
as $$
declare
  rec net._http_response;
begin
  if not async then
    perform net._await_response(request_id);
  end if;

  select * into rec from net._http_response where id = request_id;

  if rec is null or rec.error_msg is not null then
    -- The request is either still processing or the request_id provided does not exist
    return (
      'ERROR',
      coalesce(rec.error_msg, 'request matching request_id not found'),
      null
    )::net.http_response_result;
  end if;

  return (
    'SUCCESS',
    'ok',
    (rec.status_code, rec.headers, rec.content)::net.http_response
  )::net.http_response_result;
end;
$$;

comment on function net._http_collect_response(bigint, bool) is
  'returns (status, message, response) for a request id; with async = false waits for the response';

-- Deprecated in pg_net. Real pg_net 0.20 raises "query has no destination for result data" after the
-- notice (a bug); this stand-in returns the result instead.
create function net.http_collect_response(
  -- request_id reference
  request_id bigint,
  -- when `true`, return immediately. when `false` wait for the request to complete before returning
  async bool default true
)
  returns net.http_response_result
  language plpgsql
as $$
begin
  raise notice 'The net.http_collect_response function is deprecated.';
  return net._http_collect_response(request_id, async);
end;
$$;

comment on function net.http_collect_response(bigint, bool) is 'deprecated: use net._http_collect_response';

comment on schema net is 'pg_net (local stand-in): asynchronous HTTP requests sent after commit';
comment on table net.http_request_queue is 'requests waiting to be sent by the pg_net worker';
comment on table net._http_response is 'responses of sent requests; purged after pg_net.ttl';

grant usage on schema net to public;
grant all on all sequences in schema net to public;
grant all on all tables in schema net to public;
