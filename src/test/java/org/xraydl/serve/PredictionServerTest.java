package org.xraydl.serve;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.cli.Main;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.explain.HeatmapWriter;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.Predictor;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Stream;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real HTTP calls against the server on a free loopback port, with a tiny model saved and loaded as a zip. */
class PredictionServerTest {
    static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");
    /** Not the default 0.5, so the server must pass on the threshold it was given. */
    static final double THRESHOLD = 0.3;

    @TempDir
    static Path tmp;
    static Path modelZip;
    static ModelBundle bundle;
    static Predictor predictor;
    static final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void tinyModel() {
        RunConfig c = TestData.tinyConfig(Map.of());
        modelZip = tmp.resolve("tiny.zip");
        new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, LABELS), c, Map.of("seed", 7)).save(modelZip, false);
        bundle = ModelBundle.load(modelZip);
        predictor = new Predictor(bundle, false, THRESHOLD);
    }

    static Path sampleImage(String cls) throws IOException {
        try (Stream<Path> s = Files.list(TestData.sample().resolve("test").resolve(cls))) {
            return s.sorted().findFirst().orElseThrow();
        }
    }

    static PredictionServer start(PredictionServer.Limits limits) {
        return PredictionServer.start(bundle, THRESHOLD, predictor::predict, PredictionServer.DEFAULT_HOST, 0, limits);
    }

    static HttpResponse<String> post(PredictionServer s, String path, byte[] body, String contentType) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).header("Content-Type", contentType)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> send(PredictionServer s, String method, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(s.baseUrl() + path)).method(method, HttpRequest.BodyPublishers.noBody())
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws IOException {
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"), r.headers().toString());
        return ConfigLoader.JSON.readTree(r.body());
    }

    /** The JSON error contract: status, one {"error": ...} field, one line, no exception text. */
    static JsonNode assertError(HttpResponse<String> r, int status, String part) throws IOException {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode j = json(r);
        assertEquals(1, j.size(), r.body());
        String msg = j.get("error").asText();
        assertTrue(msg.contains(part), msg);
        assertFalse(msg.contains("\n") || msg.contains("Exception") || msg.contains("at org."), msg);
        return j;
    }

    @Test
    void aGoodImageGetsThePredictorsAnswerAsRawBodyAndAsMultipart() throws Exception {
        Path image = sampleImage("PNEUMONIA");
        Predictor.Answer expected = predictor.predict(image);
        assertTrue(expected.ok());
        byte[] bytes = Files.readAllBytes(image);
        try (PredictionServer s = start(PredictionServer.Limits.defaults())) {
            JsonNode raw = json(post(s, "/predict", bytes, "image/jpeg"));
            assertAnswer(expected, "upload", raw);

            String boundary = "----xraydl" + System.nanoTime();
            ByteArrayOutputStream form = new ByteArrayOutputStream();
            form.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                    + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"chest.jpeg\"\r\n"
                    + "Content-Type: image/jpeg\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            form.write(bytes);
            form.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.US_ASCII));
            // curl --data-binary without -H labels the body a url-encoded form: still the raw image.
            assertAnswer(expected, "upload", json(post(s, "/predict", bytes, "application/x-www-form-urlencoded")));

            HttpResponse<String> multipart = post(s, "/predict", form.toByteArray(), "multipart/form-data; boundary=" + boundary);
            assertEquals(200, multipart.statusCode(), multipart.body());
            assertAnswer(expected, "chest.jpeg", json(multipart));
        }
    }

    @Test
    void withHeatmapTrueTheAnswerCarriesTheOverlayThatTheExplainApiDraws() throws Exception {
        Path image = sampleImage("NORMAL");
        Predictor.Answer expected = predictor.predict(image);
        assertTrue(expected.ok());
        // Independently of the server: the overlay predict --heatmaps writes for this file and the class decided at THRESHOLD.
        Path direct = new HeatmapWriter(bundle, null, tmp.resolve("direct-heatmaps"))
                .write(image, predictor.input(image), LABELS.indexOf(expected.predictedClass()), "direct.png");
        byte[] directPng = Files.readAllBytes(direct);
        BufferedImage uploaded = ImageIO.read(image.toFile());
        byte[] bytes = Files.readAllBytes(image);
        try (PredictionServer s = start(PredictionServer.Limits.defaults())) {
            JsonNode plain = json(post(s, "/predict", bytes, "image/jpeg"));
            assertAnswer(expected, "upload", plain);
            assertFalse(plain.has(PredictionServer.HEATMAP_FIELD), "no heatmap unless asked: " + plain);
            assertFalse(json(post(s, "/predict?heatmap=false", bytes, "image/jpeg")).has(PredictionServer.HEATMAP_FIELD));

            HttpResponse<String> r = post(s, "/predict?heatmap=true", bytes, "image/jpeg");
            assertEquals(200, r.statusCode(), r.body());
            JsonNode withMap = json(r);
            assertAnswer(expected, "upload", withMap);
            assertEquals("heatmapPngBase64", PredictionServer.HEATMAP_FIELD);
            byte[] png = Base64.getDecoder().decode(withMap.get(PredictionServer.HEATMAP_FIELD).asText()); // strict: no line breaks
            assertEquals(137, png[0] & 0xff);
            assertEquals("PNG", new String(png, 1, 3, StandardCharsets.US_ASCII));
            BufferedImage overlay = ImageIO.read(new java.io.ByteArrayInputStream(png));
            assertEquals(uploaded.getWidth(), overlay.getWidth());
            assertEquals(uploaded.getHeight(), overlay.getHeight());
            assertArrayEquals(directPng, png, "the server's overlay is the explain API's, byte for byte");
            assertFalse(java.util.Arrays.equals(Files.readAllBytes(image), png), "an overlay, not the upload sent back");

            assertError(post(s, "/predict?heatmap=yes", bytes, "image/jpeg"), 400, "heatmap must be given once as true or false");
            assertError(post(s, "/predict?heatmap=true", "not an image".getBytes(StandardCharsets.UTF_8), "image/png"),
                    422, "not a decodable image");
        }
    }

    private static void assertAnswer(Predictor.Answer expected, String file, JsonNode got) {
        assertEquals(file, got.get("file").asText());
        assertEquals(expected.predictedClass(), got.get("class").asText());
        assertEquals(Math.round(expected.confidence() * 1e4) / 1e4, got.get("confidence").asDouble(), 0.0);
        assertEquals(LABELS, iterableNames(got.get("probabilities")));
        assertEquals(THRESHOLD, got.get("threshold").asDouble(), 0.0);
        double pneumonia = expected.probabilities().get("PNEUMONIA");
        assertEquals(pneumonia >= THRESHOLD ? "PNEUMONIA" : "NORMAL", got.get("class").asText(), "decided at the given threshold");
        for (String label : LABELS) {
            assertEquals(Math.round(expected.probabilities().get(label) * 1e4) / 1e4,
                    got.get("probabilities").get(label).asDouble(), 0.0, label);
        }
    }

    private static List<String> iterableNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void whatIsNotADecodableImageGetsA4xxJsonError() throws Exception {
        try (PredictionServer s = start(new PredictionServer.Limits(10_000_000, 40_000_000, 2, 2))) {
            assertError(post(s, "/predict", "definitely not an image".getBytes(StandardCharsets.UTF_8), "image/png"),
                    422, "not a decodable image");
            assertError(post(s, "/predict", new byte[0], "image/png"), 400, "empty request");
            assertError(post(s, "/predict", image("gif", 8, 8), "image/gif"), 422, "(got gif)");
            // A PNG whose header is fine but whose pixel data is cut off: refused by the decoder, not a crash.
            byte[] realPng = image("png", 64, 64);
            assertEquals(137, realPng[0] & 0xff);
            assertError(post(s, "/predict", java.util.Arrays.copyOf(realPng, 40), "image/png"), 422, "not a decodable image");
            String boundary = "b0undary";
            byte[] noFile = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--" + boundary + "--\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
            assertError(post(s, "/predict", noFile, "multipart/form-data; boundary=" + boundary), 400, "no file part");
            byte[] garbled = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.png\"\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
            // No closing boundary: the form never ends, so the request is cut at --timeout (2 s here), not held open.
            assertError(post(s, "/predict", garbled, "multipart/form-data; boundary=" + boundary), 408, "--timeout of 2 s");
        }
    }

    @Test
    void bodiesOverTheByteCapGet413() throws Exception {
        byte[] image = Files.readAllBytes(sampleImage("NORMAL"));
        try (PredictionServer s = start(new PredictionServer.Limits(image.length - 1, 40_000_000, 2, 60))) {
            assertError(post(s, "/predict", image, "image/jpeg"), 413, "over the --max-bytes cap of " + (image.length - 1));
        }
        try (PredictionServer s = start(new PredictionServer.Limits(image.length, 40_000_000, 2, 60))) {
            assertEquals(200, post(s, "/predict", image, "image/jpeg").statusCode(), "exactly at the cap is allowed");
        }
    }

    @Test
    void imagesOverThePixelCapGet413FromTheirHeader() throws Exception {
        byte[] png = image("png", 40, 30);
        try (PredictionServer s = start(new PredictionServer.Limits(10_000_000, 40 * 30 - 1, 2, 60))) {
            assertError(post(s, "/predict", png, "image/png"), 413, "image is 40x30 = 1200 pixels, over the --max-pixels cap of 1199");
        }
        // A few hundred bytes claiming 100000 x 100000 pixels: refused from the header, never decoded.
        byte[] bomb = withPngSize(png, 100_000, 100_000);
        try (PredictionServer s = start(PredictionServer.Limits.defaults())) {
            assertError(post(s, "/predict", bomb, "image/png"), 413, "100000x100000 = 10000000000 pixels");
            assertEquals(200, post(s, "/predict", png, "image/png").statusCode());
        }
    }

    @Test
    void wrongMethodsAndUnknownPathsGetJsonErrors() throws Exception {
        try (PredictionServer s = start(PredictionServer.Limits.defaults())) {
            assertError(send(s, "GET", "/predict"), 405, "GET is not allowed on /predict");
            assertError(send(s, "DELETE", "/"), 405, "DELETE is not allowed on /");
            assertError(send(s, "PUT", "/predict"), 405, "PUT");
            assertError(send(s, "GET", "/nothing/here"), 404, "no such path: /nothing/here");
        }
    }

    @Test
    void healthModelAndPageAnswer() throws Exception {
        try (PredictionServer s = start(PredictionServer.Limits.defaults())) {
            HttpResponse<String> health = send(s, "GET", "/health");
            assertEquals(200, health.statusCode());
            assertEquals("ok", json(health).get("status").asText());

            JsonNode model = json(send(s, "GET", "/model"));
            assertEquals(LABELS, List.of(model.get("labels").get(0).asText(), model.get("labels").get(1).asText()));
            assertEquals(32, model.get("input").get("imageSize").asInt());
            assertEquals(THRESHOLD, model.get("threshold").asDouble(), 0.0);
            assertEquals("densenet", model.get("model").asText());
            assertEquals(7, model.get("provenance").get("seed").asInt());

            HttpResponse<String> page = send(s, "GET", "/");
            assertEquals(200, page.statusCode());
            assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
            assertTrue(page.body().contains("id=\"file\""));
            assertFalse(page.body().contains("http://") || page.body().contains("https://"), "self-contained: no external URL");
        }
    }

    @Test
    void atMostMaxConcurrentAreAnsweredAtOnceAndTheRestAreToldToRetry() throws Exception {
        int cap = 2;
        int requests = 8;
        CountDownLatch bothInside = new CountDownLatch(cap);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        Function<Path, Predictor.Answer> held = p -> {
            peak.accumulateAndGet(inside.incrementAndGet(), Math::max);
            bothInside.countDown();
            try {
                release.await(2, TimeUnit.MINUTES);
                return predictor.predict(p);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            } finally {
                inside.decrementAndGet();
            }
        };
        byte[] image = Files.readAllBytes(sampleImage("NORMAL"));
        try (PredictionServer s = PredictionServer.start(bundle, THRESHOLD, held, "127.0.0.1", 0, new PredictionServer.Limits(10_000_000, 40_000_000, cap, 60))) {
            List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                // Every other request asks for a heatmap: it counts against the same cap.
                all.add(client.sendAsync(HttpRequest.newBuilder(URI.create(s.baseUrl() + (i % 2 == 0 ? "/predict" : "/predict?heatmap=true")))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(image)).build(), HttpResponse.BodyHandlers.ofString()));
            }
            assertTrue(bothInside.await(2, TimeUnit.MINUTES), "two requests never reached inference");
            // While both slots are held, every other request must already have its answer: 503.
            List<HttpResponse<String>> refused = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
            while (refused.size() < requests - cap && System.nanoTime() < deadline) {
                refused.clear();
                for (CompletableFuture<HttpResponse<String>> f : all) {
                    if (f.isDone()) {
                        refused.add(f.get());
                    }
                }
                Thread.sleep(20);
            }
            assertEquals(requests - cap, refused.size(), "requests answered while both slots were held");
            for (HttpResponse<String> r : refused) {
                assertError(r, 503, "busy: 2 image(s) are being answered (--max-concurrent 2)");
                assertEquals("1", r.headers().firstValue("Retry-After").orElse(null));
            }
            release.countDown();
            List<Integer> codes = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : all) {
                codes.add(f.get(2, TimeUnit.MINUTES).statusCode());
            }
            assertEquals(cap, Collections.frequency(codes, 200), codes.toString());
            assertEquals(requests - cap, Collections.frequency(codes, 503), codes.toString());
            assertEquals(cap, peak.get(), "never more than --max-concurrent in inference");
            assertEquals(200, post(s, "/predict", image, "image/jpeg").statusCode(), "slots are free again");
        }
    }

    @Test
    void aHeatmapBeingDrawnHoldsItsConcurrencySlot() throws Exception {
        CountDownLatch drawing = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        PredictionServer.Explainer real = PredictionServer.overlayOfDecidedClass(bundle, THRESHOLD);
        PredictionServer.Explainer held = (image, decided) -> {
            drawing.countDown();
            try {
                release.await(2, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return real.overlayPng(image, decided);
        };
        byte[] image = Files.readAllBytes(sampleImage("NORMAL"));
        try (PredictionServer s = PredictionServer.start(bundle, THRESHOLD, predictor::predict, held, "127.0.0.1", 0,
                new PredictionServer.Limits(10_000_000, 40_000_000, 1, 60))) {
            CompletableFuture<HttpResponse<String>> withMap = client.sendAsync(HttpRequest.newBuilder(URI.create(s.baseUrl()
                    + "/predict?heatmap=true")).POST(HttpRequest.BodyPublishers.ofByteArray(image)).build(), HttpResponse.BodyHandlers.ofString());
            assertTrue(drawing.await(2, TimeUnit.MINUTES), "the heatmap was never drawn");
            assertError(post(s, "/predict", image, "image/jpeg"), 503, "busy: 1 image(s) are being answered (--max-concurrent 1)");
            release.countDown();
            HttpResponse<String> r = withMap.get(2, TimeUnit.MINUTES);
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(json(r).get(PredictionServer.HEATMAP_FIELD).asText().length() > 100);
            assertEquals(200, post(s, "/predict", image, "image/jpeg").statusCode(), "the slot is free again");
        }
    }

    @Test
    void anInternalFailureIsLoggedNotSent() throws Exception {
        Function<Path, Predictor.Answer> broken = p -> {
            throw new IllegalStateException("secret internal detail");
        };
        try (PredictionServer s = PredictionServer.start(bundle, THRESHOLD, broken, "127.0.0.1", 0, PredictionServer.Limits.defaults())) {
            HttpResponse<String> r = post(s, "/predict", image("png", 16, 16), "image/png");
            assertError(r, 500, "internal error");
            assertFalse(r.body().contains("secret"), r.body());
        }
    }

    @Test
    void bindsLoopbackByDefault() throws Exception {
        assertEquals("127.0.0.1", PredictionServer.DEFAULT_HOST);
        try (PredictionServer s = start(PredictionServer.Limits.defaults())) {
            assertTrue(s.loopbackOnly());
            try (Socket ok = new Socket()) {
                ok.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), s.port()), 5000);
            }
            InetAddress external = nonLoopbackAddress();
            if (external != null) {
                assertThrows(ConnectException.class, () -> {
                    try (Socket no = new Socket()) {
                        no.connect(new InetSocketAddress(external, s.port()), 5000);
                    }
                }, "reachable on " + external);
            }
        }
    }

    @Test
    void aBadModelIsOneLineAndExitCode2() {
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream old = System.err;
        int code;
        try {
            System.setErr(new java.io.PrintStream(err, true, StandardCharsets.UTF_8));
            code = Main.run("serve", "--model", tmp.resolve("absent.zip").toString(), "--port", "0");
        } finally {
            System.setErr(old);
        }
        assertEquals(2, code);
        String text = err.toString(StandardCharsets.UTF_8).trim();
        assertTrue(text.startsWith("error: model file not found: "), text);
        assertEquals(1, text.lines().count(), text);
    }

    static InetAddress nonLoopbackAddress() throws IOException {
        for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!ni.isUp() || ni.isLoopback()) {
                continue;
            }
            for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) {
                    return a;
                }
            }
        }
        return null;
    }

    /** A grey gradient image in the given ImageIO format. */
    static byte[] image(String format, int w, int h) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int g = (x * 255 / w + y * 255 / h) / 2;
                img.setRGB(x, y, g << 16 | g << 8 | g);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out), format);
        return out.toByteArray();
    }

    /** The PNG with its IHDR width and height replaced (and the chunk's CRC fixed, so the header stays valid). */
    static byte[] withPngSize(byte[] png, int width, int height) {
        byte[] out = png.clone();
        // Signature (8 bytes), IHDR length (4), "IHDR" (4), then width and height, then 5 bytes, then the CRC.
        assertEquals("IHDR", new String(out, 12, 4, StandardCharsets.US_ASCII));
        ByteBuffer.wrap(out, 16, 8).putInt(width).putInt(height);
        CRC32 crc = new CRC32();
        crc.update(out, 12, 4 + 13);
        ByteBuffer.wrap(out, 29, 4).putInt((int) crc.getValue());
        return out;
    }
}
