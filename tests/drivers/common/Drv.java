// What the JDBC clients of the driver matrix share: the run itself (CRUD, one prepared
// statement reused, a duplicate-key error and the session going on after it, common types,
// masked columns, text and prepared) over a JDBC connection, and a small JSON writer, so the
// Rust test can compare a direct run with one through sluice. Settings come from DRV_*.

import java.lang.reflect.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class Drv {
    private Drv() {}

    public static String env(String name) {
        String v = System.getenv(name);
        return v == null ? "" : v;
    }

    /** The run; `postgres` picks the error's SQLSTATE (PostgreSQL) or its code (MySQL). */
    public static void run(Connection conn, boolean postgres) throws Exception {
        String t = env("DRV_TABLE");
        Map<String, Object> out = new LinkedHashMap<>();
        try (Statement st = conn.createStatement()) {
            String charset = postgres ? "" : " CHARSET utf8mb4";
            st.execute("CREATE TABLE " + t + " (id int PRIMARY KEY, note varchar(50))" + charset);
            try (PreparedStatement ins = conn.prepareStatement("INSERT INTO " + t + " VALUES (?, ?)")) {
                Object[][] rows = {{1, "one"}, {2, "zwei \u2713"}, {3, "three"}};
                for (Object[] r : rows) {
                    ins.setInt(1, (Integer) r[0]);
                    ins.setString(2, (String) r[1]);
                    ins.executeUpdate();
                }
                st.executeUpdate("UPDATE " + t + " SET note = 'two' WHERE id = 2");
                st.executeUpdate("DELETE FROM " + t + " WHERE id = 3");
                out.put("crud", rows(st.executeQuery("SELECT id, note FROM " + t + " ORDER BY id")));
                List<Object> prepared = new ArrayList<>();
                try (PreparedStatement one = conn.prepareStatement("SELECT id, note FROM " + t + " WHERE id = ?")) {
                    for (int i : new int[] {1, 2, 1, 2, 1, 2}) {
                        one.setInt(1, i);
                        prepared.add(rows(one.executeQuery()));
                    }
                }
                out.put("prepared", prepared);
                try {
                    ins.setInt(1, 1);
                    ins.setString(2, "dup");
                    ins.executeUpdate();
                    out.put("error", null);
                } catch (SQLException e) {
                    out.put("error", postgres ? e.getSQLState() : (Object) e.getErrorCode());
                }
            }
            out.put("after_error", rows(st.executeQuery("SELECT count(*) FROM " + t)));
            out.put("types", rows(st.executeQuery("SELECT * FROM " + env("DRV_TYPES") + " ORDER BY id")));
            String people = "SELECT id, name, email, ssn, salary FROM " + env("DRV_PEOPLE");
            out.put("masked", rows(st.executeQuery(people + " ORDER BY id")));
            List<Object> masked = new ArrayList<>();
            try (PreparedStatement p = conn.prepareStatement(people + " WHERE id = ?")) {
                for (int i : new int[] {1, 2, 1, 2, 1, 2}) {
                    p.setInt(1, i);
                    masked.add(rows(p.executeQuery()));
                }
            }
            out.put("masked_prepared", masked);
            try (PreparedStatement p = conn.prepareStatement("SELECT * FROM " + env("DRV_TYPES") + " WHERE id > ? ORDER BY id")) {
                List<Object> typed = new ArrayList<>();
                for (int i = 0; i < 6; i++) {
                    p.setInt(1, 0);
                    typed.add(rows(p.executeQuery()));
                }
                out.put("types_prepared", typed);
            }
            st.execute("DROP TABLE " + t);
        }
        conn.close();
        StringBuilder b = new StringBuilder();
        json(b, out);
        System.out.println(b);
    }

    static List<Object> rows(ResultSet rs) throws SQLException {
        List<Object> rows = new ArrayList<>();
        int n = rs.getMetaData().getColumnCount();
        while (rs.next()) {
            List<Object> row = new ArrayList<>();
            for (int i = 1; i <= n; i++) {
                row.add(plain(rs.getObject(i)));
            }
            rows.add(row);
        }
        rs.close();
        return rows;
    }

    /** A JSON-able form of a value, keeping its Java class (what the driver mapped it to). */
    static Object plain(Object v) throws SQLException {
        if (v == null || v instanceof String || v instanceof Integer || v instanceof Boolean) {
            return v;
        }
        if (v instanceof byte[]) {
            StringBuilder hex = new StringBuilder("\\x");
            for (byte x : (byte[]) v) {
                hex.append(String.format("%02x", x));
            }
            return hex.toString();
        }
        if (v instanceof java.sql.Array) {
            Object items = ((java.sql.Array) v).getArray();
            List<Object> list = new ArrayList<>();
            for (int i = 0; i < Array.getLength(items); i++) {
                list.add(plain(Array.get(items, i)));
            }
            return list;
        }
        return v.getClass().getSimpleName() + ":" + v;
    }

    @SuppressWarnings("unchecked")
    static void json(StringBuilder b, Object v) {
        if (v == null) {
            b.append("null");
        } else if (v instanceof Integer || v instanceof Boolean) {
            b.append(v);
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                if (!first) b.append(',');
                first = false;
                json(b, e.getKey());
                b.append(':');
                json(b, e.getValue());
            }
            b.append('}');
        } else if (v instanceof List) {
            b.append('[');
            boolean first = true;
            for (Object x : (List<Object>) v) {
                if (!first) b.append(',');
                first = false;
                json(b, x);
            }
            b.append(']');
        } else {
            b.append('"');
            for (char c : v.toString().toCharArray()) {
                if (c == '"' || c == '\\') {
                    b.append('\\').append(c);
                } else if (c < 0x20 || c > 0x7e) {
                    b.append(String.format("\\u%04x", (int) c));
                } else {
                    b.append(c);
                }
            }
            b.append('"');
        }
    }
}
