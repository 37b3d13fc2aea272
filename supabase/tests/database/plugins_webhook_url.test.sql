-- Webhook URL rules: https to a public host only; loopback, private, link-local, unspecified, IPv6 local
-- and IPv4-mapped forms are refused unless local development allows them (private.plugin_settings, or
-- the session setting plugins.allow_private_webhook_urls), which also allows http.
begin;
select plan(49);

set local plugins.allow_private_webhook_urls to off;

select lives_ok(format('select private.validate_webhook_url(%L)', u), format('accepts %s', u))
from unnest(array[
  'https://hooks.example.com/cmms',
  'https://hooks.example.com:8443/a?b=c#d',
  'https://HOOKS.Example.COM./x',
  'https://93.184.216.34/hook',
  'https://[2001:db8::1]:443/hook'
]) u;

select throws_ok(format('select private.validate_webhook_url(%L)', c.url), '22023', c.message, c.what)
from (values
  ('http://hooks.example.com/x', 'webhook_url must use https, not http', 'http is refused'),
  ('ftp://hooks.example.com/x', 'webhook_url must use https, not ftp', 'other schemes are refused'),
  ('hooks.example.com/x', 'webhook_url ''hooks.example.com/x'' is not an absolute URL like https://example.com/hooks',
    'a URL without a scheme is refused'),
  ('https://user:pw@hooks.example.com/', 'webhook_url must not contain credentials (user:password@): keep secrets in Vault',
    'credentials in the URL are refused'),
  ('https://hooks example.com/', 'webhook_url must not contain spaces or control characters', 'spaces are refused'),
  ('https://127.0.0.1/x', 'webhook_url must not point at 127.0.0.1 (loopback address)', 'IPv4 loopback is refused'),
  ('https://127.10.20.30/x', 'webhook_url must not point at 127.10.20.30 (loopback address)', 'all of 127.0.0.0/8 is refused'),
  ('https://localhost/x', 'webhook_url must not point at localhost (loopback host)', 'localhost is refused'),
  ('https://api.localhost/x', 'webhook_url must not point at api.localhost (loopback host)', '*.localhost is refused'),
  ('https://[::1]/x', 'webhook_url must not point at ::1 (loopback address)', 'IPv6 loopback is refused'),
  ('https://10.1.2.3/x', 'webhook_url must not point at 10.1.2.3 (private address)', '10.0.0.0/8 is refused'),
  ('https://172.16.0.1/x', 'webhook_url must not point at 172.16.0.1 (private address)', '172.16.0.0/12 is refused'),
  ('https://172.31.255.255/x', 'webhook_url must not point at 172.31.255.255 (private address)', 'the top of 172.16.0.0/12 is refused'),
  ('https://192.168.1.1/x', 'webhook_url must not point at 192.168.1.1 (private address)', '192.168.0.0/16 is refused'),
  ('https://169.254.169.254/latest/meta-data', 'webhook_url must not point at 169.254.169.254 (link-local address)',
    'the cloud metadata address is refused'),
  ('https://0.0.0.0/x', 'webhook_url must not point at 0.0.0.0 (unspecified address)', '0.0.0.0 is refused'),
  ('https://[::]/x', 'webhook_url must not point at :: (unspecified address)', 'the IPv6 unspecified address is refused'),
  ('https://[fd12:3456::1]/x', 'webhook_url must not point at fd12:3456::1 (unique-local address)', 'fc00::/7 is refused'),
  ('https://[fe80::1]/x', 'webhook_url must not point at fe80::1 (link-local address)', 'fe80::/10 is refused'),
  ('https://[::ffff:127.0.0.1]/x', 'webhook_url must not point at ::ffff:127.0.0.1 (loopback address)',
    'IPv4-mapped loopback is refused'),
  ('https://[::ffff:a9fe:a9fe]/x', 'webhook_url must not point at ::ffff:169.254.169.254 (link-local address)',
    'IPv4-mapped metadata address in hex is refused'),
  ('https://2130706433/x', 'webhook_url host 2130706433 is ambiguous: use a domain name or a dotted-quad IPv4 address',
    'a decimal IPv4 address is refused'),
  ('https://0177.0.0.1/x', 'webhook_url host 0177.0.0.1 is ambiguous: use a domain name or a dotted-quad IPv4 address',
    'an octal IPv4 address is refused'),
  ('https://intranet/x', 'webhook_url host intranet is not a public, fully qualified domain name', 'single-label hosts are refused'),
  ('https://metadata.google.internal/x', 'webhook_url host metadata.google.internal is not a public, fully qualified domain name',
    '*.internal is refused'),
  ('https://hooks.example.com:0/x', 'webhook_url has an invalid port (1 to 65535)', 'port 0 is refused'),
  ('https://hooks.example.com:70000/x', 'webhook_url has an invalid port (1 to 65535)', 'ports over 65535 are refused'),
  ('https://::1/x', 'webhook_url has an invalid host (IPv6 addresses go in brackets: https://[2001:db8::1]/)',
    'unbracketed IPv6 is refused'),
  -- Names the hosts file maps to loopback on Red Hat-family systems (curl asks the system resolver).
  ('https://localhost.localdomain/x', 'webhook_url host localhost.localdomain is not a public, fully qualified domain name',
    'localhost.localdomain is refused'),
  ('https://localhost4.localdomain4/x', 'webhook_url host localhost4.localdomain4 is not a public, fully qualified domain name',
    'localhost4.localdomain4 is refused'),
  ('https://198.18.0.1/x', 'webhook_url must not point at 198.18.0.1 (benchmarking address)', '198.18.0.0/15 is refused'),
  ('https://192.0.0.170/x', 'webhook_url must not point at 192.0.0.170 (reserved address)', '192.0.0.0/24 is refused'),
  ('https://[fec0::1]/x', 'webhook_url must not point at fec0::1 (site-local address)', 'fec0::/10 is refused'),
  ('https://[64:ff9b:1::a9fe:a9fe]/x', 'webhook_url must not point at 64:ff9b:1::a9fe:a9fe (local-use NAT64 address)',
    'the local-use NAT64 prefix 64:ff9b:1::/48 is refused'),
  ('https://[2002:a9fe:a9fe::1]/x', 'webhook_url must not point at 2002:a9fe:a9fe::1 (6to4 address)',
    '6to4 addresses (2002::/16), which embed an IPv4 address, are refused'),
  ('https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x',
    'webhook_url must not point at 2001:0:4136:e378:8000:63bf:3fff:fdd2 (Teredo address)', 'Teredo (2001::/32) is refused'),
  ('https://[::ffff:0:7f00:1]/x', 'webhook_url must not point at ::ffff:0:7f00:1 (loopback address)',
    'IPv4-translated loopback (::ffff:0:0:0/96) is refused'),
  -- lower() would turn U+0130 into an ASCII i: the check must see the host curl sees.
  ('https://İnternal.example.com/x', 'webhook_url host ''İnternal.example.com'' is not a valid host name (use punycode for IDNs)',
    'a host with non-ASCII letters is refused, even one that lowercases to ASCII')
) as c(url, message, what);

-- Local development, for the database (a switch the postgres role can turn on on any Supabase stack).
update private.plugin_settings set allow_private_webhook_urls = true;
select lives_ok($$select private.validate_webhook_url('http://127.0.0.1:54321/functions/v1/plugin-receiver')$$,
  'with the database switch on, http to loopback is allowed');
update private.plugin_settings set allow_private_webhook_urls = false;
select throws_ok($$select private.validate_webhook_url('http://127.0.0.1:54321/x')$$, '22023', null,
  'and refused again once it is off');
select ok(
  not has_table_privilege('authenticated', 'private.plugin_settings', 'update')
    and not has_table_privilege('service_role', 'private.plugin_settings', 'update'),
  'API roles cannot turn it on'
);

-- Local development, for this session.
set local plugins.allow_private_webhook_urls to on;
select lives_ok($$select private.validate_webhook_url('http://127.0.0.1:54321/functions/v1/plugin-receiver')$$,
  'with the setting on, http to loopback is allowed');
select lives_ok($$select private.validate_webhook_url('https://localhost/x')$$, 'with the setting on, localhost is allowed');
select throws_ok($$select private.validate_webhook_url('ftp://127.0.0.1/x')$$, '22023', 'webhook_url must use https, not ftp',
  'the setting allows http, not other schemes');

select * from finish();
rollback;
