package org.xraydl.net;

import io.vertx.core.Vertx;
import org.xraydl.UserError;

import java.net.BindException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * What the project's HTTP servers ({@code serve}, {@code ui}) share about the address they listen on:
 * checking it before starting, explaining a failed bind in one line, the URL to open, and stopping
 * Vert.x (whose threads are not daemons and would keep the JVM alive).
 */
public final class ListenAddress {
    /** Seconds to wait for Vert.x's threads to end on close. */
    public static final long CLOSE_TIMEOUT_SECONDS = 30;

    private ListenAddress() {
    }

    /**
     * Checks {@code port} is a TCP port (0: any free one) and {@code host} resolves.
     *
     * @param hostName how the error names the host (e.g. {@code --host})
     * @param portOption the option that sets the port, named in the error
     * @throws UserError naming the bad value and the fix
     */
    public static void check(String host, int port, String hostName, String portOption) {
        if (port < 0 || port > 65535) {
            throw new UserError(portOption + " " + port + " is not a TCP port: use 1-65535 (or 0 for any free port)");
        }
        try {
            InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new UserError(hostName + " '" + host + "' is not a known address: use 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)");
        }
    }

    /**
     * The one-line error for a server that did not start: the port is taken (followed by {@code inUseAdvice}),
     * the host is not this machine's, or else {@code cause} itself.
     *
     * @param server what did not start, e.g. "the UI server"
     */
    public static UserError startFailure(String server, String host, int port, Throwable cause, String inUseAdvice) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof BindException b) {
                String msg = String.valueOf(b.getMessage());
                if (msg.contains("in use")) {
                    return new UserError("port " + port + " is already in use on " + host + ": " + inUseAdvice);
                }
                return new UserError("cannot listen on " + hostPort(host, port) + " (" + msg + "): is " + host
                        + " an address of this machine? Use 127.0.0.1 or 0.0.0.0");
            }
        }
        return new UserError(server + " did not start on " + hostPort(host, port) + ": " + cause);
    }

    /** True when only this machine can connect to {@code host}. */
    public static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** True for 0.0.0.0 / :: (all interfaces). */
    public static boolean isWildcard(String host) {
        try {
            return InetAddress.getByName(host).isAnyLocalAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** {@code host:port}, with an IPv6 host in brackets. */
    public static String hostPort(String host, int port) {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    /** A URL to open in a browser on this machine: a wildcard host becomes 127.0.0.1. */
    public static String localUrl(String host, int port) {
        return "http://" + hostPort(isWildcard(host) ? "127.0.0.1" : host, port);
    }

    /** Closes {@code vertx} and waits for it; what went wrong if it did not end within {@link #CLOSE_TIMEOUT_SECONDS}. */
    public static Optional<Exception> closeAndWait(Vertx vertx) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        vertx.close(ar -> done.complete(null));
        try {
            done.get(CLOSE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            return Optional.empty();
        } catch (Exception e) {
            return Optional.of(e);
        }
    }
}
