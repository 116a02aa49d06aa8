package org.xraydl.ui;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.impl.MimeMapping;
import io.vertx.ext.web.RoutingContext;

import java.io.IOException;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * DL4J's UI static files ({@code /assets/*}), served from the classpath only: DL4J's own handler
 * passes the request path to {@code sendFile}, which looks in the working directory and Vert.x's
 * file cache first and follows {@code ..}. Here the path must be plain segments of safe characters,
 * names a classpath resource under DL4J's two asset roots (the same mapping as DL4J: a path with a
 * {@code webjars/} segment is a WebJar, anything else is under {@code deeplearning4jUiAssets/}),
 * must be a file inside a jar, or a regular file whose real path (symlinks resolved) stays under its
 * root; anything else is 404.
 */
final class UiAssets {
    static final String ROUTE = "/assets/*";
    static final String PREFIX = "/assets/";
    static final String DL4J_ROOT = "deeplearning4jUiAssets";
    static final String WEBJARS_ROOT = "META-INF/resources";
    /** The largest asset (cytoscape, coreui) is about 1 MB. */
    static final int MAX_BYTES = 16 << 20;
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_@~+-][A-Za-z0-9._@~+-]*(/[A-Za-z0-9_@~+-][A-Za-z0-9._@~+-]*)*");

    private final ClassLoader loader;
    /** Assets that exist: a fixed set of a few MB. */
    private final Map<String, Optional<byte[]>> cache = new ConcurrentHashMap<>();

    UiAssets() {
        this(UiAssets.class.getClassLoader());
    }

    /** Assets found through {@code loader} (tests pass one over a folder). */
    UiAssets(ClassLoader loader) {
        this.loader = loader;
    }

    void handle(RoutingContext rc) {
        String path = rc.request().path();
        String resource = path == null || !path.startsWith(PREFIX) ? null : resourceName(path.substring(PREFIX.length()));
        if (resource == null) {
            notFound(rc);
            return;
        }
        Optional<byte[]> cached = cache.get(resource);
        if (cached != null) {
            send(rc, resource, cached);
            return;
        }
        rc.vertx().<Optional<byte[]>>executeBlocking(p -> p.complete(read(resource)), false, ar -> {
            Optional<byte[]> body = ar.succeeded() ? ar.result() : Optional.empty();
            if (body.isPresent()) {
                cache.put(resource, body); // found ones only: names that miss are the client's choice, unbounded
            }
            send(rc, resource, body);
        });
    }

    /** The classpath resource for a path below /assets/, or null if the path is not plain safe segments. */
    static String resourceName(String rest) {
        if (!SAFE.matcher(rest).matches()) {
            return null;
        }
        if (rest.startsWith("webjars/")) {
            return WEBJARS_ROOT + "/" + rest;
        }
        int w = rest.indexOf("/webjars/");
        return w < 0 ? DL4J_ROOT + "/" + rest : WEBJARS_ROOT + "/" + rest.substring(w + 1);
    }

    private Optional<byte[]> read(String resource) {
        URL url = loader.getResource(resource);
        if (url == null) {
            return Optional.empty();
        }
        try {
            URLConnection c = url.openConnection();
            if (c instanceof JarURLConnection j) {
                if (j.getJarEntry() == null || j.getJarEntry().isDirectory()) {
                    return Optional.empty();
                }
            } else if ("file".equals(url.getProtocol())) {
                if (!insideRoot(Path.of(url.toURI()), resource)) {
                    return Optional.empty();
                }
            } else {
                return Optional.empty();
            }
            try (InputStream in = c.getInputStream()) {
                byte[] b = in.readNBytes(MAX_BYTES + 1);
                return b.length > MAX_BYTES ? Optional.empty() : Optional.of(b);
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** A file on disk (classes folder): a regular file whose real path is under its root's real path. */
    private boolean insideRoot(Path file, String resource) throws IOException, URISyntaxException {
        String rootName = resource.startsWith(WEBJARS_ROOT + "/") ? WEBJARS_ROOT : DL4J_ROOT;
        // The root holding this very file: strip the resource name from the file's path.
        Path root = file;
        for (int i = 0; i < Path.of(resource).getNameCount() - Path.of(rootName).getNameCount(); i++) {
            root = root.getParent();
        }
        Path real = file.toRealPath();
        return Files.isRegularFile(real) && real.startsWith(root.toRealPath());
    }

    private static void send(RoutingContext rc, String resource, Optional<byte[]> body) {
        if (body.isEmpty()) {
            notFound(rc);
            return;
        }
        String type = MimeMapping.getMimeTypeForFilename(resource.substring(resource.lastIndexOf('/') + 1));
        rc.response().putHeader("content-type", type == null ? "application/octet-stream" : type)
                .putHeader("x-content-type-options", "nosniff")
                .end(Buffer.buffer(body.get()));
    }

    private static void notFound(RoutingContext rc) {
        rc.response().setStatusCode(404).putHeader("content-type", "text/plain; charset=utf-8").end("not found\n");
    }
}
