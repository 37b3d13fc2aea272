-- private.pg_net_generation names the run of pg_net request ids a request belongs to: it stays the same
-- while pg_net's ids do, and changes when they restart (pg_net created again, or its unlogged tables
-- reset by a crash, which empties the unlogged table that keeps the generation too, or the database
-- restored into another cluster, where pg_net starts afresh but the table's rows come along).
begin;
select plan(6);

create temporary table generations (label text, generation bigint) on commit drop;
insert into generations select 'first', private.pg_net_generation();

select is(private.pg_net_generation(), (select generation from generations where label = 'first'),
  'the generation stays the same from call to call');
select ok((select generation is not null from generations where label = 'first'), 'with pg_net installed there is one');

-- A crash resets unlogged relations: pg_net's queue, responses and id sequence, and the generations.
truncate private.pg_net_generations;
insert into generations select 'after reset', private.pg_net_generation();
select cmp_ok((select generation from generations where label = 'after reset'), '>',
  (select generation from generations where label = 'first'), 'after a reset of unlogged tables it is a new one');

-- A logical restore into another cluster: the row comes from a cluster with another system identifier.
update private.pg_net_generations set system_identifier = system_identifier + 1;
insert into generations select 'restored', private.pg_net_generation();
select cmp_ok((select generation from generations where label = 'restored'), '>',
  (select generation from generations where label = 'after reset'),
  'restored into another cluster it is a new one');

drop extension pg_net;
select is(private.pg_net_generation(), null, 'without pg_net there is none');
create extension pg_net with schema extensions;
select cmp_ok(private.pg_net_generation(), '>', (select generation from generations where label = 'restored'),
  'pg_net created again starts a new one');

select * from finish();
rollback;
