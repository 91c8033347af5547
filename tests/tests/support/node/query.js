// Runs each statement of SLUICE_QUERIES (a JSON array) with node mysql2, once through the
// text protocol (query) and once as a prepared statement (execute), and prints what an
// application sees: rows as mysql2 decodes them and each field's type and MariaDB extended
// metadata. Connection settings come from the environment.
const mysql = require('mysql2/promise');

async function main() {
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: Number(process.env.SLUICE_PORT),
    user: process.env.SLUICE_USER,
    password: process.env.SLUICE_PASSWORD,
    database: process.env.SLUICE_DATABASE,
  });
  const fieldInfo = (fields) =>
    fields.map((f) => ({
      name: f.name,
      columnType: f.columnType,
      extendedFormat: f.extendedFormat ?? null,
      extendedTypeName: f.extendedTypeName ?? null,
    }));
  const out = { extendedMetadata: Boolean(conn.connection._mariadbExtendedMetadata), results: [] };
  for (const sql of JSON.parse(process.env.SLUICE_QUERIES)) {
    const [textRows, textFields] = await conn.query(sql);
    const [binRows, binFields] = await conn.execute(sql);
    out.results.push({
      sql,
      text: { rows: textRows, fields: fieldInfo(textFields) },
      binary: { rows: binRows, fields: fieldInfo(binFields) },
    });
  }
  await conn.end();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
