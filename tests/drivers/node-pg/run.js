// node-postgres (pg) through sluice: CRUD, a named prepared statement reused, a unique-key
// violation and the session going on after it, common types, and masked columns. Settings
// come from the environment the Rust test sets (DRV_*); what it read is printed as JSON.
const fs = require("fs");
const { Client } = require("pg");

const env = process.env;

function rows(result) {
  return result.rows.map((r) => Object.values(r));
}

async function main() {
  const client = new Client({
    host: "127.0.0.1",
    port: Number(env.DRV_PORT),
    user: env.DRV_USER,
    password: env.DRV_PASSWORD,
    database: env.DRV_DATABASE,
    ssl: env.DRV_CA ? { ca: fs.readFileSync(env.DRV_CA), servername: "localhost" } : false,
    connectionTimeoutMillis: 20000,
  });
  await client.connect();
  const t = env.DRV_TABLE;
  const q = async (text, values, name) => rows(await client.query({ text, values, name }));
  const out = {};
  await q(`CREATE TABLE ${t} (id int PRIMARY KEY, note varchar(50))`);
  for (const [i, note] of [[1, "one"], [2, "zwei \u2713"], [3, "three"]]) {
    await q(`INSERT INTO ${t} VALUES ($1, $2)`, [i, note], "ins");
  }
  await q(`UPDATE ${t} SET note = $1 WHERE id = $2`, ["two", 2]);
  await q(`DELETE FROM ${t} WHERE id = $1`, [3]);
  out.crud = await q(`SELECT id, note FROM ${t} ORDER BY id`);
  out.prepared = [];
  for (const i of [1, 2, 1]) {
    out.prepared.push(await q(`SELECT id, note FROM ${t} WHERE id = $1`, [i], "one"));
  }
  try {
    await q(`INSERT INTO ${t} VALUES ($1, $2)`, [1, "dup"], "ins");
    out.error = null;
  } catch (e) {
    out.error = e.code;
  }
  out.after_error = await q(`SELECT count(*) FROM ${t}`);
  out.types = await q(`SELECT * FROM ${env.DRV_TYPES} ORDER BY id`);
  const people = `SELECT id, name, email, ssn, salary FROM ${env.DRV_PEOPLE}`;
  out.masked = await q(`${people} ORDER BY id`);
  out.masked_prepared = [];
  for (const i of [1, 2]) {
    out.masked_prepared.push(await q(`${people} WHERE id = $1`, [i], "people"));
  }
  await q(`DROP TABLE ${t}`);
  await client.end();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
