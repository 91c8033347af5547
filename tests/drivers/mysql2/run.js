// node mysql2 through sluice: CRUD, a server-side prepared statement (execute) reused, a
// duplicate-key error and the session going on after it, common types, and masked columns,
// text and prepared. Settings come from DRV_*; what it read is printed as JSON.
const fs = require("fs");
const mysql = require("mysql2/promise");

const env = process.env;

function rows(result) {
  return result[0].map((r) => Object.values(r));
}

async function main() {
  const conn = await mysql.createConnection({
    host: "127.0.0.1",
    port: Number(env.DRV_PORT),
    user: env.DRV_USER,
    password: env.DRV_PASSWORD,
    database: env.DRV_DATABASE,
    charset: "utf8mb4_general_ci",
    ssl: env.DRV_CA ? { ca: fs.readFileSync(env.DRV_CA), servername: "localhost" } : undefined,
    connectTimeout: 20000,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  const t = env.DRV_TABLE;
  const q = async (sql, values) => rows(await conn.query(sql, values));
  const x = async (sql, values) => rows(await conn.execute(sql, values));
  const out = {};
  await conn.query(`CREATE TABLE ${t} (id INT PRIMARY KEY, note VARCHAR(50)) CHARSET utf8mb4`);
  for (const [i, note] of [[1, "one"], [2, "zwei \u2713"], [3, "three"]]) {
    await conn.execute(`INSERT INTO ${t} VALUES (?, ?)`, [i, note]);
  }
  await conn.execute(`UPDATE ${t} SET note = ? WHERE id = ?`, ["two", 2]);
  await conn.query(`DELETE FROM ${t} WHERE id = ?`, [3]);
  out.crud = await q(`SELECT id, note FROM ${t} ORDER BY id`);
  out.prepared = [];
  for (const i of [1, 2, 1]) {
    out.prepared.push(await x(`SELECT id, note FROM ${t} WHERE id = ?`, [i]));
  }
  try {
    await conn.execute(`INSERT INTO ${t} VALUES (?, ?)`, [1, "dup"]);
    out.error = null;
  } catch (e) {
    out.error = e.errno;
  }
  out.after_error = await q(`SELECT count(*) FROM ${t}`);
  out.types = await q(`SELECT * FROM ${env.DRV_TYPES} ORDER BY id`);
  out.types_prepared = await x(`SELECT * FROM ${env.DRV_TYPES} ORDER BY id`);
  const people = `SELECT id, name, email, ssn, salary FROM ${env.DRV_PEOPLE}`;
  out.masked = await q(`${people} ORDER BY id`);
  out.masked_prepared = [];
  for (const i of [1, 2]) {
    out.masked_prepared.push(await x(`${people} WHERE id = ?`, [i]));
  }
  await conn.query(`DROP TABLE ${t}`);
  await conn.end();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
