// pgJDBC (Debian's libpostgresql-jdbc-java) through sluice: the run of common/Drv.java, with
// statements prepared on the server from their first use (prepareThreshold=1) and binary
// transfer, over TLS verifying sluice's certificate when DRV_CA is set.

import java.sql.Connection;
import java.sql.DriverManager;
import java.util.Properties;

public final class PgJdbc {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", Drv.env("DRV_USER"));
        p.setProperty("password", Drv.env("DRV_PASSWORD"));
        p.setProperty("prepareThreshold", "1");
        p.setProperty("connectTimeout", "20");
        if (Drv.env("DRV_CA").isEmpty()) {
            p.setProperty("sslmode", "disable");
        } else {
            p.setProperty("sslmode", "verify-full");
            p.setProperty("sslrootcert", Drv.env("DRV_CA"));
        }
        String url = "jdbc:postgresql://127.0.0.1:" + Drv.env("DRV_PORT") + "/" + Drv.env("DRV_DATABASE");
        Connection conn = DriverManager.getConnection(url, p);
        Drv.run(conn, true);
    }
}
