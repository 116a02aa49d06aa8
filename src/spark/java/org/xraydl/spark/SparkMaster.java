package org.xraydl.spark;

import org.xraydl.UserError;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * A Spark master URL and the checks made before a SparkContext is created, so that a wrong or
 * unreachable master ends in one clear line within a bounded time instead of Spark's retry loops:
 * {@code spark://host:port[,host2:port2]} is probed with a TCP connect (timeout
 * {@code spark.xraydl.connectTimeoutSeconds}, default 10 s); {@code yarn}, {@code k8s://} and
 * {@code mesos://} need Spark's cluster-manager module on the classpath, i.e. spark-submit.
 */
public record SparkMaster(String url) {
    private static final Pattern LOCAL = Pattern.compile("local(\\[(\\*|[1-9]\\d*)(,\\s*[1-9]\\d*)?])?");
    private static final Pattern LOCAL_CLUSTER = Pattern.compile("local-cluster\\[\\d+,\\s*\\d+,\\s*\\d+]");
    static final int DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;

    public boolean isLocal() {
        return url.startsWith("local");
    }

    public boolean isStandalone() {
        return url.startsWith("spark://");
    }

    public boolean isYarn() {
        return url.equals("yarn") || url.startsWith("yarn-");
    }

    /** Fails with a {@link UserError} unless this master can be used from here. */
    public void check(int connectTimeoutSeconds) {
        if (url == null || url.isBlank()) {
            throw new UserError("no Spark master given: pass --master local[2], spark://HOST:7077 or yarn");
        }
        if (isLocal()) {
            if (!LOCAL.matcher(url).matches() && !LOCAL_CLUSTER.matcher(url).matches()) {
                throw new UserError("invalid Spark master '" + url + "': use local, local[N], local[*], spark://HOST:PORT or yarn");
            }
            return;
        }
        if (isStandalone()) {
            checkReachable(connectTimeoutSeconds);
            return;
        }
        String manager = url.startsWith("k8s://") ? "org.apache.spark.scheduler.cluster.k8s.KubernetesClusterManager"
                : isYarn() ? "org.apache.spark.scheduler.cluster.YarnClusterManager"
                : url.startsWith("mesos://") ? "org.apache.spark.scheduler.cluster.mesos.MesosClusterManager"
                : null;
        if (manager == null) {
            throw new UserError("invalid Spark master '" + url + "': use local[N], spark://HOST:PORT, yarn, k8s://... or mesos://...");
        }
        try {
            Class.forName(manager, false, SparkMaster.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new UserError("Spark master '" + url + "' needs Spark's own cluster-manager support, which this build does not bundle: "
                    + "submit the shaded jar with spark-submit --master " + url + " (see README, Spark cluster)");
        }
    }

    /** The host:port pairs of a standalone master URL (several for a ZooKeeper-backed HA master). */
    List<InetSocketAddress> standaloneAddresses() {
        List<InetSocketAddress> out = new ArrayList<>();
        for (String hp : url.substring("spark://".length()).split(",")) {
            String s = hp.trim();
            int colon = s.lastIndexOf(':');
            int port = 7077;
            String host = s;
            if (colon > 0) {
                host = s.substring(0, colon);
                try {
                    port = Integer.parseInt(s.substring(colon + 1));
                } catch (NumberFormatException e) {
                    throw new UserError("invalid Spark master '" + url + "': '" + s.substring(colon + 1) + "' is not a port number");
                }
            }
            if (host.isEmpty() || port < 1 || port > 65535) {
                throw new UserError("invalid Spark master '" + url + "': expected spark://HOST:PORT");
            }
            out.add(InetSocketAddress.createUnresolved(host, port));
        }
        return out;
    }

    private void checkReachable(int timeoutSeconds) {
        List<String> problems = new ArrayList<>();
        for (InetSocketAddress a : standaloneAddresses()) {
            String why = probe(a.getHostString(), a.getPort(), timeoutSeconds);
            if (why == null) {
                return;
            }
            problems.add(a.getHostString() + ":" + a.getPort() + " " + why);
        }
        throw new UserError("Spark master " + url + " is not reachable (" + String.join("; ", problems)
                + "): start it (sbin/start-master.sh), check host and port, or pass --master local[2]");
    }

    /** Null when a TCP connection could be opened, else the reason in a few words. */
    static String probe(String host, int port, int timeoutSeconds) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), (int) Math.min(Integer.MAX_VALUE, timeoutSeconds * 1000L));
            return null;
        } catch (UnknownHostException e) {
            return "unknown host";
        } catch (SocketTimeoutException e) {
            return "no answer within " + timeoutSeconds + " s";
        } catch (ConnectException e) {
            return "connection refused";
        } catch (NoRouteToHostException e) {
            return "no route to host";
        } catch (IOException | IllegalArgumentException e) {
            String m = e.getMessage();
            return m == null ? e.getClass().getSimpleName() : m.toLowerCase(Locale.ROOT);
        }
    }
}
