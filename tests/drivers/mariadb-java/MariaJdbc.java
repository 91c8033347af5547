// MariaDB Connector/J (Debian's libmariadb-java) through sluice: the run of common/Drv.java,
// with server-side prepared statements (useServerPrepStmts), over TLS verifying sluice's
// certificate when DRV_CA is set.

import java.sql.Connection;
import java.sql.DriverManager;
import java.util.Properties;

public final class MariaJdbc {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", Drv.env("DRV_USER"));
        p.setProperty("password", Drv.env("DRV_PASSWORD"));
        p.setProperty("useServerPrepStmts", "true");
        p.setProperty("connectTimeout", "20000");
        if (!Drv.env("DRV_CA").isEmpty()) {
            p.setProperty("useSsl", "true");
            p.setProperty("serverSslCert", Drv.env("DRV_CA"));
        }
        String url = "jdbc:mariadb://127.0.0.1:" + Drv.env("DRV_PORT") + "/" + Drv.env("DRV_DATABASE");
        Connection conn = DriverManager.getConnection(url, p);
        Drv.run(conn, false);
    }
}
