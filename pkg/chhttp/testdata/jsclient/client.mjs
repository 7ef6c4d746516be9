// Drives the official ClickHouse JS client (@clickhouse/client, from npm)
// against the embedded engine's HTTP interface. Run by TestOfficialJSClient
// with CH_URL, CH_ADMIN, CH_ADMIN_PASSWORD, CH_TENANT, CH_TENANT_PASSWORD
// and CH_CLIENT (the installed package's path); prints "ok" when every
// check holds, else exits non-zero with what differed.
import assert from 'node:assert/strict';

const { createClient, ClickHouseLogLevel } = await import(process.env.CH_CLIENT);
// The errors provoked below are expected; the client would log each.
const log = { level: ClickHouseLogLevel.OFF };
const admin = createClient({ url: process.env.CH_URL, username: process.env.CH_ADMIN, password: process.env.CH_ADMIN_PASSWORD, log,
  compression: { response: true, request: true } });
const tenant = createClient({ url: process.env.CH_URL, username: process.env.CH_TENANT, password: process.env.CH_TENANT_PASSWORD, log,
  database: 'tl' });

assert.equal((await admin.ping()).success, true);

// Selects in several formats.
let rs = await admin.query({ query: 'SELECT number AS n, toString(number) AS s FROM numbers(3)', format: 'JSONEachRow' });
assert.deepEqual(await rs.json(), [{ n: 0, s: '0' }, { n: 1, s: '1' }, { n: 2, s: '2' }]);
rs = await admin.query({ query: 'SELECT 1 AS a, \'x,y\' AS b', format: 'CSVWithNames' });
assert.equal(await rs.text(), '"a","b"\n1,"x,y"\n');
rs = await admin.query({ query: 'SELECT {p:String} AS p', format: 'JSON', query_params: { p: "it's\ta\ntest" } });
const doc = await rs.json();
assert.deepEqual(doc.data, [{ p: "it's\ta\ntest" }]);
assert.deepEqual(doc.meta, [{ name: 'p', type: 'String' }]);

// A typed round trip of the column types Throughline's tables use.
await admin.command({ query: `CREATE TABLE IF NOT EXISTS tl.js_types (
  s String, lc LowCardinality(String), u64 UInt64, i64 Int64, u8 UInt8, u32 UInt32, f Float64,
  ts DateTime64(3, 'UTC'), d Date, m Map(String, String), a Array(String), n Nullable(String), b Bool, dec Decimal(18, 4)
) ENGINE = MergeTree ORDER BY u64 SETTINGS non_replicated_deduplication_window = 100` });
const rows = [
  { s: 'ünïcødé\t"quoted"\n', lc: 'google', u64: '18446744073709551615', i64: '-9223372036854775808', u8: 255, u32: 4294967295,
    f: -0.5, ts: '2026-01-02 03:04:05.678', d: '2026-01-02', m: { k: 'v', '': 'empty' }, a: ['x', ''], n: null, b: true, dec: '12345.6789' },
  { s: '', lc: 'direct', u64: '1', i64: '1', u8: 0, u32: 0, f: 1e300, ts: '1970-01-01 00:00:00.000', d: '1970-01-01',
    m: {}, a: [], n: 'set', b: false, dec: '-0.0001' },
];
const settings = { insert_deduplication_token: 'js-batch-1' };
await admin.insert({ table: 'tl.js_types', values: rows, format: 'JSONEachRow', clickhouse_settings: settings });
// The same batch retried with its token lands once.
await admin.insert({ table: 'tl.js_types', values: rows, format: 'JSONEachRow', clickhouse_settings: settings });
rs = await admin.query({ query: 'SELECT * FROM tl.js_types ORDER BY u64 DESC', format: 'JSONEachRow',
  clickhouse_settings: { output_format_json_quote_64bit_integers: 1, output_format_json_quote_decimals: 1 } });
assert.deepEqual(await rs.json(), rows);

// An error, as the client parses it.
await assert.rejects(admin.query({ query: 'SELEC 1' }), (e) => e.code === '62' && e.type === 'SYNTAX_ERROR');

// A tenant's user: its rows only, and denied another's.
rs = await tenant.query({ query: 'SELECT toString(count()) AS c FROM events', format: 'JSONEachRow' });
assert.deepEqual(await rs.json(), [{ c: process.env.CH_TENANT_ROWS }]);
rs = await tenant.query({ query: "SELECT toString(count()) AS c FROM events WHERE tenant != 'acme'", format: 'JSONEachRow' });
assert.deepEqual(await rs.json(), [{ c: '0' }]);
await assert.rejects(tenant.query({ query: 'SELECT * FROM system.query_log' }), (e) => e.code === '497' && e.type === 'ACCESS_DENIED');
await assert.rejects(tenant.insert({ table: 'events', values: [{ tenant: 'globex', id: 9, s: 'x' }], format: 'JSONEachRow' }),
  (e) => e.code === '164' && e.type === 'READONLY');

await admin.close();
await tenant.close();
console.log('ok');
