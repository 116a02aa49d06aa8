package org.xraydl.ui;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Issue 12: no request reaches a file outside what a UI route serves, and none hangs. */
class UiPathTraversalTest {
    /** Read timeout of the raw socket: an answer must come at once; a timeout is a failure. */
    static final int READ_TIMEOUT_MS = 2000;
    static final List<String> TRAVERSALS = List.of(
            "/assets/a/b/c/d/e/f/g/h/i/j/k/l/webjars/../../../../../../../../../../etc/passwd",
            "/assets/webjars/../../../../../../../../../../../../etc/passwd",
            "/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/assets/a/b/webjars/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
            "/assets/%252e%252e%252f%252e%252e%252f%252e%252e%252f%252e%252e%252fetc%252fpasswd",
            "/assets//etc/passwd",
            "/assets/..\\..\\..\\..\\..\\..\\etc\\passwd",
            "/assets/%5c..%5c..%5c..%5cetc%5cpasswd",
            "/assets/webjars/%00/../../etc/passwd",
            "/assets/%zz/etc/passwd",
            "/run/..%2F..%2Fconfig.yaml",
            "/train/../../../../etc/passwd");

    private static UiServer server;

    @BeforeAll
    static void start() throws Exception {
        server = UiServer.start("127.0.0.1", 0, "--ui-port");
        // One normal page load first: DL4J's handler could be exploited only after its assets were extracted.
        assertEquals(200, raw(server.port(), "/train/overview").code());
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void everyTraversalFormIsRefusedAtOnce() throws Exception {
        for (String target : TRAVERSALS) {
            Response r = raw(server.port(), target);
            assertTrue(r.code() == 400 || r.code() == 404, target + " answered " + r.code());
            assertFalse(r.body().contains("root:"), target + " served /etc/passwd");
        }
    }

    @Test
    void dl4jAssetsAndWebJarsStillLoadFromTheClasspath() throws Exception {
        for (String[] asset : new String[][]{{"/assets/css/style.css", "deeplearning4jUiAssets/css/style.css"},
                {"/assets/webjars/jquery/3.4.1/dist/jquery.min.js", "META-INF/resources/webjars/jquery/3.4.1/dist/jquery.min.js"},
                {"/assets/a/webjars/jquery/3.4.1/dist/jquery.min.js", "META-INF/resources/webjars/jquery/3.4.1/dist/jquery.min.js"}}) {
            Response r = raw(server.port(), asset[0]);
            assertEquals(200, r.code(), asset[0]);
            byte[] expected;
            try (InputStream in = getClass().getClassLoader().getResourceAsStream(asset[1])) {
                assertNotNull(in, asset[1]);
                expected = in.readAllBytes();
            }
            assertArrayEquals(expected, r.bodyBytes(), asset[0]);
        }
        assertEquals(404, raw(server.port(), "/assets/css/nothing-here.css").code());
        assertEquals(404, raw(server.port(), "/assets/css").code(), "a folder is not a file");
    }

    @Test
    void guardDecisionsOnHandWrittenPaths() {
        for (String ok : List.of("/", "/run", "/run/", "/train/overview", "/assets/css/style.css", "/assets/a%20b.css")) {
            assertNull(RequestPathGuard.problem(ok), ok);
        }
        String[][] refused = {
                {"/assets/../x", "dot segment"},
                {"/assets/%2e%2e/x", "dot segment"},
                {"/assets/%252e%252e/x", "dot segment"},
                {"/assets/..%2Fx", "encoded slash"},
                {"/assets/%252e%252e%252fx", "encoded slash"},
                {"/assets//etc/passwd", "empty segment"},
                {"/assets/..\\x", "backslash"},
                {"/assets/%00x", "control character"},
                {"/assets/%zz", "malformed percent-encoding"},
                {"/a%252525252541", "encoded more than 4 times"}};
        for (String[] pathAndReason : refused) {
            assertEquals(pathAndReason[1], RequestPathGuard.problem(pathAndReason[0]), pathAndReason[0]);
        }
        assertEquals("deeplearning4jUiAssets/css/style.css", UiAssets.resourceName("css/style.css"));
        assertEquals("META-INF/resources/webjars/x/y.js", UiAssets.resourceName("a/b/webjars/x/y.js"));
        assertNull(UiAssets.resourceName(".hidden/x"));
        assertNull(UiAssets.resourceName("css/"));
    }

    @Test
    void aSymlinkAmongTheAssetsDoesNotLeadOut(@TempDir Path dir) throws Exception {
        Path root = Files.createDirectories(dir.resolve("classes").resolve(UiAssets.DL4J_ROOT));
        Files.writeString(root.resolve("ok.css"), "body{}");
        Path secret = Files.writeString(dir.resolve("secret.txt"), "root:secret");
        Files.createSymbolicLink(root.resolve("leak.css"), secret);
        Files.createSymbolicLink(root.resolve("inner.css"), root.resolve("ok.css"));
        Vertx vertx = Vertx.vertx();
        try (URLClassLoader loader = new URLClassLoader(new URL[]{dir.resolve("classes").toUri().toURL()}, null)) {
            Router router = Router.router(vertx);
            router.route().handler(RequestPathGuard::handle);
            router.get(UiAssets.ROUTE).handler(new UiAssets(loader)::handle);
            CompletableFuture<HttpServer> listening = new CompletableFuture<>();
            vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1",
                    ar -> { if (ar.succeeded()) listening.complete(ar.result()); else listening.completeExceptionally(ar.cause()); });
            int port = listening.get(30, TimeUnit.SECONDS).actualPort();
            assertEquals("body{}", raw(port, "/assets/ok.css").body());
            assertEquals("body{}", raw(port, "/assets/inner.css").body(), "a symlink inside the root is fine");
            Response leak = raw(port, "/assets/leak.css");
            assertEquals(404, leak.code());
            assertFalse(leak.body().contains("root:"));
        } finally {
            CompletableFuture<Void> closed = new CompletableFuture<>();
            vertx.close(ar -> closed.complete(null));
            closed.get(30, TimeUnit.SECONDS);
        }
    }

    record Response(int code, byte[] bodyBytes) {
        String body() {
            return new String(bodyBytes, StandardCharsets.ISO_8859_1);
        }
    }

    /** Sends the request line exactly as given (no client-side normalisation) and reads the whole answer. */
    static Response raw(int port, String target) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), READ_TIMEOUT_MS);
            s.setSoTimeout(READ_TIMEOUT_MS);
            s.getOutputStream().write(("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            byte[] all;
            try {
                all = s.getInputStream().readAllBytes();
            } catch (SocketTimeoutException e) {
                fail(target + ": no complete answer within " + READ_TIMEOUT_MS + " ms (the connection hangs)");
                return null;
            }
            String head = new String(all, StandardCharsets.ISO_8859_1);
            int end = head.indexOf("\r\n\r\n");
            assertTrue(head.startsWith("HTTP/1.") && end > 0, target + ": not an HTTP answer: " + head);
            int code = Integer.parseInt(head.substring(9, 12));
            byte[] body = Arrays.copyOfRange(all, end + 4, all.length);
            if (head.substring(0, end).toLowerCase().contains("transfer-encoding: chunked")) {
                body = dechunk(body);
            }
            return new Response(code, body);
        }
    }

    private static byte[] dechunk(byte[] b) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int i = 0;
        while (i < b.length) {
            int eol = i;
            while (eol + 1 < b.length && !(b[eol] == '\r' && b[eol + 1] == '\n')) {
                eol++;
            }
            int size = Integer.parseInt(new String(b, i, eol - i, StandardCharsets.ISO_8859_1).trim().split(";")[0], 16);
            if (size == 0) {
                break;
            }
            out.write(b, eol + 2, size);
            i = eol + 2 + size + 2;
        }
        return out.toByteArray();
    }
}
