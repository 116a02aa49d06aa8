package org.xraydl.ui;

import org.deeplearning4j.core.storage.impl.RemoteUIStatsStorageRouter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Optional;

/**
 * Sending stats to a DL4J UI in another process or on another machine (one started with
 * {@code ui --remote-listener}), through DL4J's {@link RemoteUIStatsStorageRouter}.
 */
public final class RemoteStats {
    private static final Logger log = LoggerFactory.getLogger(RemoteStats.class);
    static final int CONNECT_TIMEOUT_MS = 3000;
    static final int READ_TIMEOUT_MS = 5000;

    private RemoteStats() {
    }

    /** Checks the form of a --ui-remote address and returns it without a trailing slash. */
    public static String normalize(String url) {
        try {
            URI u = new URI(url.trim());
            if (!"http".equalsIgnoreCase(u.getScheme()) && !"https".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
                throw new URISyntaxException(url, "not an http URL with a host");
            }
            String s = u.toString();
            return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
        } catch (URISyntaxException e) {
            throw new UserError("--ui-remote '" + url + "' is not an http:// address: give the remote UI like http://host:9000");
        }
    }

    /**
     * Asks the remote UI whether it takes stats: a harmless POST to its receiver (a record type that
     * it ignores). Returns empty when it does, else why not, in a few words.
     */
    public static Optional<String> probe(String baseUrl) {
        HttpURLConnection c = null;
        try {
            c = (HttpURLConnection) URI.create(baseUrl + "/" + RemoteUIStatsStorageRouter.DEFAULT_PATH).toURL().openConnection();
            c.setConnectTimeout(CONNECT_TIMEOUT_MS);
            c.setReadTimeout(READ_TIMEOUT_MS);
            c.setRequestMethod("POST");
            c.setDoOutput(true);
            c.setRequestProperty("Content-Type", "application/json");
            try (OutputStream out = c.getOutputStream()) {
                out.write("{\"type\":\"probe\",\"class\":\"probe\",\"data\":\"\"}".getBytes(StandardCharsets.UTF_8));
            }
            int code = c.getResponseCode();
            if (code == 200) {
                return Optional.empty();
            }
            if (code == 403) {
                return Optional.of("it does not accept remote stats; start it with `ui --remote-listener`");
            }
            return Optional.of("it answered HTTP " + code + ", not like a DL4J UI");
        } catch (IOException | IllegalArgumentException e) {
            return Optional.of(e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        } finally {
            if (c != null) {
                c.disconnect();
            }
        }
    }

    /** DL4J's asynchronous sender; a few retries with back-off, then it gives up (training is never blocked). */
    public static RemoteUIStatsStorageRouter router(String baseUrl) {
        return new RemoteUIStatsStorageRouter(baseUrl, 5, 1000, 2.0);
    }

    /**
     * Waits (at most {@code maxMillis}) until the router has sent what it queued, so the last records of a
     * run are not lost when the JVM exits; its queue is private, so this looks at it by reflection.
     */
    public static void drain(RemoteUIStatsStorageRouter router, long maxMillis) {
        try {
            Field f = RemoteUIStatsStorageRouter.class.getDeclaredField("queue");
            f.setAccessible(true);
            long end = System.nanoTime() + maxMillis * 1_000_000L;
            while (System.nanoTime() < end) {
                Object q = f.get(router);
                if (!(q instanceof Collection<?> c) || c.isEmpty()) {
                    break;
                }
                Thread.sleep(100);
            }
            // The record taken last may still be on its way.
            Thread.sleep(300);
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.debug("cannot see the remote router's queue: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
