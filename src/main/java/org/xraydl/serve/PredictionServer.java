package org.xraydl.serve;

import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.FileUpload;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.TimeoutHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.explain.Overlay;
import org.xraydl.explain.OverlayRenderer;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.net.ListenAddress;
import org.xraydl.net.ListeningServer;
import org.xraydl.predict.PredictionJson;
import org.xraydl.predict.Predictor;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * HTTP prediction server (Vert.x): {@code POST /predict} answers one image with the JSON that
 * {@code predict} prints ({@code ?heatmap=true}: plus the Grad-CAM overlay of the decided class as a
 * base64 PNG in {@value #HEATMAP_FIELD}), {@code GET /} is a page to drop an X-ray on, {@code GET /health} and
 * {@code GET /model} describe it. Every request has a cost cap (body bytes, image pixels read from
 * the header before decoding, images in inference at once); every error is a JSON object
 * {@code {"error": "..."}} and never a stack trace (those go to the server log). Inference runs on a
 * worker pool sized to the concurrency cap, never on the event loop.
 */
public final class PredictionServer implements AutoCloseable, ListeningServer {
    private static final Logger log = LoggerFactory.getLogger(PredictionServer.class);

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 8080;
    static final String PAGE_RESOURCE = "/org/xraydl/serve/index.html";
    static final long START_TIMEOUT_SECONDS = 60;
    /** The answer's field with the Grad-CAM overlay (PNG, standard base64, the uploaded image's size) when asked for. */
    public static final String HEATMAP_FIELD = "heatmapPngBase64";
    /** Seconds a client told "busy" should wait before retrying. */
    static final int RETRY_AFTER_SECONDS = 1;

    /** What one request may cost: body bytes, image pixels, images in inference at once, seconds until answered. */
    public record Limits(long maxBytes, long maxPixels, int maxConcurrent, int timeoutSeconds) {
        public static final long DEFAULT_MAX_BYTES = 10L * 1024 * 1024;
        public static final long DEFAULT_MAX_PIXELS = 40_000_000L;
        public static final int DEFAULT_MAX_CONCURRENT = 2;
        public static final int DEFAULT_TIMEOUT_SECONDS = 60;

        public Limits {
            if (maxBytes < 1 || maxPixels < 1 || maxConcurrent < 1 || timeoutSeconds < 1) {
                throw new UserError("--max-bytes, --max-pixels, --max-concurrent and --timeout must be at least 1 (got "
                        + maxBytes + ", " + maxPixels + ", " + maxConcurrent + ", " + timeoutSeconds + ")");
            }
        }

        public static Limits defaults() {
            return new Limits(DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_MAX_CONCURRENT, DEFAULT_TIMEOUT_SECONDS);
        }
    }

    /** A request refused with a status and a one-line reason. */
    static final class Refusal extends RuntimeException {
        final int status;

        Refusal(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    private final Vertx vertx;
    private final HttpServer http;
    private final WorkerExecutor workers;
    private final Path scratch;
    private final String host;
    private volatile boolean closed;

    private PredictionServer(Vertx vertx, HttpServer http, WorkerExecutor workers, Path scratch, String host) {
        this.vertx = vertx;
        this.http = http;
        this.workers = workers;
        this.scratch = scratch;
        this.host = host;
    }

    /**
     * Starts a server answering with a {@link Predictor} on {@code bundle} that decides at {@code threshold}
     * (predict's {@code --threshold}), after one warm-up answer.
     */
    public static PredictionServer start(ModelBundle bundle, double threshold, String host, int port, Limits limits) {
        Predictor predictor = new Predictor(bundle, false, threshold);
        warmUp(predictor, bundle.preprocessing().imageSize());
        return start(bundle, threshold, predictor::predict, host, port, limits);
    }

    /**
     * Answers one grey image before listening: the first inference sets up native kernels and the
     * decoder (seconds on a small CPU), which would otherwise land on the first client's request.
     */
    static void warmUp(Predictor predictor, int size) {
        Path file = null;
        try {
            file = Files.createTempFile("xraydl-warmup-", ".png");
            javax.imageio.ImageIO.write(new java.awt.image.BufferedImage(size, size, java.awt.image.BufferedImage.TYPE_BYTE_GRAY),
                    "png", file.toFile());
            Predictor.Answer a = predictor.predict(file);
            if (!a.ok()) {
                log.warn("warm-up inference failed: {}", a.error());
            }
        } catch (IOException e) {
            log.warn("no warm-up inference: {}", e.toString());
        } finally {
            if (file != null) {
                file.toFile().delete();
            }
        }
    }

    /**
     * Starts a server on {@code host:port} (0: any free port) and waits until it listens.
     *
     * @param threshold the decision threshold {@code predict} uses, reported by {@code GET /model}
     * @param predict   answers one image file (the bundle's {@link Predictor}; tests may wrap it)
     * @throws UserError if the host is unknown, the port is taken or invalid
     */
    public static PredictionServer start(ModelBundle bundle, double threshold, Function<Path, Predictor.Answer> predict,
                                         String host, int port, Limits limits) {
        return start(bundle, threshold, predict, overlayOfDecidedClass(bundle, threshold), host, port, limits);
    }

    /**
     * The Grad-CAM overlay (default layer) of the class {@code decided}, on the image file as uploaded, as
     * {@code predict --heatmaps} draws it: same input (the plain view), same map, same colours, as PNG bytes.
     */
    static Explainer overlayOfDecidedClass(ModelBundle bundle, double threshold) {
        Predictor inputs = new Predictor(bundle, false, threshold);
        OverlayRenderer overlays = new OverlayRenderer(bundle, null);
        List<String> labels = bundle.preprocessing().labels();
        return (image, decided) -> Overlay.png(overlays.render(image, inputs.input(image), labels.indexOf(decided)));
    }

    /** Draws the heatmap of one answered image: PNG bytes of the overlay of class {@code decided} on {@code image}. */
    @FunctionalInterface
    interface Explainer {
        byte[] overlayPng(Path image, String decided) throws IOException;
    }

    static PredictionServer start(ModelBundle bundle, double threshold, Function<Path, Predictor.Answer> predict,
                                  Explainer explain, String host, int port, Limits limits) {
        ListenAddress.check(host, port, "--host", "--port");
        String page = readPage();
        Path scratch;
        try {
            scratch = Files.createTempDirectory("xraydl-serve-");
        } catch (IOException e) {
            throw new UserError("cannot create a temporary folder for uploads: " + e.getMessage());
        }
        Vertx vertx = Vertx.vertx();
        // One worker per allowed request: inference never waits behind the event loop, and never exceeds the cap.
        WorkerExecutor workers = vertx.createSharedWorkerExecutor("xraydl-predict", limits.maxConcurrent(), 10, TimeUnit.MINUTES);
        Handlers handlers = new Handlers(ModelInfo.of(bundle, threshold), predict, explain, limits, scratch, page);
        Router router = Router.router(vertx);
        router.get("/").handler(handlers::page);
        router.get("/health").handler(ctx -> handlers.json(ctx, 200, Map.of("status", "ok")));
        router.get("/model").handler(ctx -> handlers.json(ctx, 200, handlers.modelInfo));
        router.post("/predict")
                // A body that never completes (e.g. a multipart form without its closing boundary) must not hold a connection forever.
                .handler(TimeoutHandler.create(TimeUnit.SECONDS.toMillis(limits.timeoutSeconds()), 408))
                // curl --data-binary labels any body a url-encoded form; an image never is one: take it as the raw body.
                .handler(ctx -> {
                    String type = ctx.request().getHeader("Content-Type");
                    if (type != null && type.toLowerCase(java.util.Locale.ROOT).startsWith("application/x-www-form-urlencoded")) {
                        ctx.request().headers().remove("Content-Type");
                    }
                    ctx.next();
                })
                .handler(BodyHandler.create(scratch.resolve("uploads").toString())
                        .setBodyLimit(limits.maxBytes())
                        .setDeleteUploadedFilesOnEnd(true)
                        .setMergeFormAttributes(false))
                .handler(ctx -> handlers.predict(ctx, workers));
        router.errorHandler(404, ctx -> handlers.error(ctx, 404, "no such path: " + ctx.request().path()
                + " (endpoints: GET /, GET /health, GET /model, POST /predict)"));
        router.errorHandler(405, ctx -> handlers.error(ctx, 405, ctx.request().method() + " is not allowed on "
                + ctx.request().path() + " (POST /predict; GET /, /health, /model)"));
        router.errorHandler(413, ctx -> handlers.error(ctx, 413, "request body over the --max-bytes cap of "
                + limits.maxBytes() + " bytes"));
        router.errorHandler(408, ctx -> handlers.error(ctx, 408, "request not complete and answered within the --timeout of "
                + limits.timeoutSeconds() + " s"));
        router.errorHandler(400, ctx -> handlers.error(ctx, 400, "malformed request"));
        router.errorHandler(500, ctx -> {
            if (isMalformedForm(ctx.failure())) {
                log.debug("malformed multipart body: {}", ctx.failure().toString());
                handlers.error(ctx, 400, "malformed multipart request: send the image as a file field, or as the request body");
                return;
            }
            log.error("request {} {} failed", ctx.request().method(), ctx.request().path(), ctx.failure());
            handlers.error(ctx, 500, "internal error (logged by the server)");
        });

        HttpServer http = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port)).requestHandler(router);
        CompletableFuture<HttpServer> listening = new CompletableFuture<>();
        http.listen(ar -> {
            if (ar.succeeded()) {
                listening.complete(ar.result());
            } else {
                listening.completeExceptionally(ar.cause());
            }
        });
        try {
            listening.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            closeQuietly(vertx);
            deleteTree(scratch);
            throw ListenAddress.startFailure("the prediction server", host, port,
                    e instanceof ExecutionException ? e.getCause() : e, "choose another with --port (or --port 0 for any free port)");
        }
        return new PredictionServer(vertx, http, workers, scratch, host);
    }

    /** Netty's multipart decoder failed on the client's bytes: the client's fault, not ours. */
    private static boolean isMalformedForm(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t.getClass().getName().startsWith("io.netty.handler.codec.http.multipart.")) {
                return true;
            }
        }
        return false;
    }

    private static String readPage() {
        try (InputStream in = PredictionServer.class.getResourceAsStream(PAGE_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + PAGE_RESOURCE);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public int port() {
        return http.actualPort();
    }

    @Override
    public String host() {
        return host;
    }

    public boolean isClosed() {
        return closed;
    }

    /** Blocks until the JVM is stopped (Ctrl-C), then closes the server. */
    public void awaitTermination() throws InterruptedException {
        Runtime.getRuntime().addShutdownHook(new Thread(this::close, "xraydl-serve-stop"));
        while (!closed) {
            Thread.sleep(1000);
        }
    }

    /** Stops listening, waits for Vert.x threads to end, deletes the upload folder. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        workers.close();
        closeQuietly(vertx);
        deleteTree(scratch);
    }

    private static void closeQuietly(Vertx vertx) {
        ListenAddress.closeAndWait(vertx).ifPresent(e ->
                log.warn("the prediction server did not stop within {} s: {}", ListenAddress.CLOSE_TIMEOUT_SECONDS, e.toString()));
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            log.warn("cannot delete {}: {}", dir, e.toString());
        }
    }

    /** The request handlers; everything they share is fixed at start. */
    private static final class Handlers {
        final Map<String, Object> modelInfo;
        private final Function<Path, Predictor.Answer> predict;
        private final Explainer explain;
        private final Limits limits;
        private final Path scratch;
        private final String page;
        /** Requests in decoding/inference; the rest are told to retry. */
        private final Semaphore slots;

        Handlers(Map<String, Object> modelInfo, Function<Path, Predictor.Answer> predict, Explainer explain, Limits limits,
                 Path scratch, String page) {
            this.modelInfo = modelInfo;
            this.predict = predict;
            this.explain = explain;
            this.limits = limits;
            this.scratch = scratch;
            this.page = page;
            this.slots = new Semaphore(limits.maxConcurrent());
        }

        void page(RoutingContext ctx) {
            ctx.response()
                    .putHeader("Content-Type", "text/html; charset=utf-8")
                    .putHeader("Cache-Control", "no-store")
                    .putHeader("X-Content-Type-Options", "nosniff")
                    // Self-contained page: nothing is loaded from elsewhere; images are shown from blob:/data: URLs.
                    .putHeader("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; "
                            + "style-src 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'")
                    .end(page);
        }

        void predict(RoutingContext ctx, WorkerExecutor workers) {
            Upload upload;
            boolean heatmap;
            try {
                heatmap = heatmapWanted(ctx);
                upload = upload(ctx);
            } catch (Refusal r) {
                error(ctx, r.status, r.getMessage());
                return;
            }
            if (!slots.tryAcquire()) {
                ctx.response().putHeader("Retry-After", String.valueOf(RETRY_AFTER_SECONDS));
                error(ctx, 503, "busy: " + limits.maxConcurrent() + " image(s) are being answered (--max-concurrent "
                        + limits.maxConcurrent() + "); retry in " + RETRY_AFTER_SECONDS + " s");
                return;
            }
            workers.<Map<String, Object>>executeBlocking(promise -> {
                try {
                    promise.complete(answer(upload, heatmap)); // the heatmap, if asked for, within the same slot
                } catch (Throwable t) {
                    promise.fail(t);
                } finally {
                    slots.release();
                }
            }, false, ar -> {
                if (ar.succeeded()) {
                    json(ctx, 200, ar.result());
                } else if (ar.cause() instanceof Refusal r) {
                    error(ctx, r.status, r.getMessage());
                } else {
                    ctx.fail(ar.cause());
                }
            });
        }

        /** {@code ?heatmap=true|false} (absent: false); anything else is refused rather than guessed. */
        private static boolean heatmapWanted(RoutingContext ctx) {
            List<String> values = ctx.queryParam("heatmap");
            if (values.isEmpty()) {
                return false;
            }
            String v = values.get(values.size() - 1).toLowerCase(java.util.Locale.ROOT);
            if (values.size() > 1 || !(v.equals("true") || v.equals("false"))) {
                throw new Refusal(400, "heatmap must be given once as true or false (got " + values + ")");
            }
            return v.equals("true");
        }

        /** The image of a request: the raw body, or the one file part of a multipart form. */
        private Upload upload(RoutingContext ctx) {
            Set<FileUpload> files = ctx.fileUploads();
            if (files.size() > 1) {
                throw new Refusal(400, "send one image per request (got " + files.size() + " file parts)");
            }
            if (files.size() == 1) {
                FileUpload f = files.iterator().next();
                String name = f.fileName() == null || f.fileName().isBlank() ? "upload" : f.fileName();
                return new Upload(name, Path.of(f.uploadedFileName()), null);
            }
            String type = String.valueOf(ctx.request().getHeader("Content-Type"));
            if (type.startsWith("multipart/")) {
                throw new Refusal(400, "the multipart form has no file part: send the image as a file field, or as the request body");
            }
            Buffer body = ctx.getBody();
            if (body == null || body.length() == 0) {
                throw new Refusal(400, "empty request: send the image (JPEG or PNG) as the request body or as a multipart file");
            }
            return new Upload("upload", null, body.getBytes());
        }

        /** Runs on a worker: header check, then the same Predictor call as {@code predict}, then the heatmap if wanted. */
        private Map<String, Object> answer(Upload upload, boolean heatmap) throws IOException {
            Path file = Files.createTempFile(scratch, "image-", ".tmp");
            Path named = null;
            try {
                if (upload.bytes() != null) {
                    Files.write(file, upload.bytes());
                } else {
                    Files.copy(upload.file(), file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
                ImageHeader header = ImageHeader.read(file);
                if (header == null || !ImageFolderScanner.IMAGE_EXTENSIONS.contains(header.extension())) {
                    throw new Refusal(422, "not a decodable image: send a JPEG, PNG or BMP X-ray"
                            + (header == null ? "" : " (got " + header.format() + ")"));
                }
                if (header.pixels() > limits.maxPixels()) {
                    throw new Refusal(413, "image is " + header.width() + "x" + header.height() + " = " + header.pixels()
                            + " pixels, over the --max-pixels cap of " + limits.maxPixels());
                }
                // The decoder below goes by content, but keep an extension that names the format.
                named = scratch.resolve("image-" + UUID.randomUUID() + "." + header.extension());
                Files.move(file, named);
                Predictor.Answer a = predict.apply(named);
                if (!a.ok()) {
                    throw new Refusal(422, "not a decodable image: " + a.error());
                }
                Map<String, Object> json = PredictionJson.of(a);
                json.put("file", upload.name());
                if (heatmap) {
                    json.put(HEATMAP_FIELD, Base64.getEncoder().encodeToString(explain.overlayPng(named, a.predictedClass())));
                }
                return json;
            } finally {
                Files.deleteIfExists(file);
                if (named != null) {
                    Files.deleteIfExists(named);
                }
            }
        }

        void error(RoutingContext ctx, int status, String message) {
            json(ctx, status, Map.of("error", message));
        }

        void json(RoutingContext ctx, int status, Map<String, ?> body) {
            if (ctx.response().ended()) {
                return;
            }
            String text;
            try {
                text = PredictionJson.COMPACT.writeValueAsString(new LinkedHashMap<>(body));
            } catch (IOException e) {
                log.error("cannot write JSON", e);
                status = 500;
                text = "{\"error\":\"internal error (logged by the server)\"}";
            }
            ctx.response().setStatusCode(status)
                    .putHeader("Content-Type", "application/json; charset=utf-8")
                    .putHeader("Cache-Control", "no-store")
                    .end(text);
        }
    }

    /** An image as received: bytes of a raw body, or a file written by the multipart decoder. */
    private record Upload(String name, Path file, byte[] bytes) {
    }
}
