package org.xraydl.model.io;

import org.xraydl.model.ModelFactory;

import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.UserError;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PretrainedWeightsTest {

    @Test
    void unreachableServerGivesOneLineErrorSayingWhereToPutTheFile(@TempDir Path dir) throws Exception {
        int closedPort = closedPort();
        Path target = dir.resolve("vgg16_dl4j_inference.zip");
        UserError e = assertThrows(UserError.class,
                () -> PretrainedWeights.fetch("http://127.0.0.1:" + closedPort + "/vgg16.zip", target, 123L));
        assertTrue(e.getMessage().contains("put vgg16_dl4j_inference.zip (Adler32 123) at " + target), e.getMessage());
        assertTrue(e.getMessage().contains("--weights none"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertFalse(Files.exists(target), "no partial file");
    }

    @Test
    void downloadIsVerifiedByChecksumAndABadFileIsNeverKept(@TempDir Path dir) throws Exception {
        byte[] body = "pretend weights".getBytes(StandardCharsets.UTF_8);
        HttpServer server = loopbackServer();
        server.createContext("/w.zip", answering(body));
        server.createContext("/missing.zip", NOT_FOUND);
        server.start();
        try {
            String base = "http://127.0.0.1:" + server.getAddress().getPort();
            Path good = dir.resolve("good/w.zip");
            Path probe = Files.write(dir.resolve("probe"), body);
            long sum = PretrainedWeights.adler32(probe);
            PretrainedWeights.fetch(base + "/w.zip", good, sum);
            assertEquals(List.of("pretend weights"), Files.readAllLines(good));
            // Cached now: a second fetch must not need the server.
            server.stop(0);
            PretrainedWeights.fetch(base + "/w.zip", good, sum);

            Path bad = dir.resolve("bad/w.zip");
            Files.createDirectories(bad.getParent());
            Files.write(bad, "stale half download".getBytes(StandardCharsets.UTF_8));
            UserError e = assertThrows(UserError.class, () -> PretrainedWeights.fetch(base + "/w.zip", bad, sum));
            assertTrue(e.getMessage().startsWith("checksum mismatch for " + bad), e.getMessage());
            assertFalse(Files.exists(bad));
        } finally {
            server.stop(0);
        }
    }

    @Test
    void httpErrorIsReportedWithTheStatus(@TempDir Path dir) throws Exception {
        HttpServer server = loopbackServer();
        server.createContext("/", NOT_FOUND);
        server.start();
        try {
            Path target = dir.resolve("x.zip");
            UserError e = assertThrows(UserError.class,
                    () -> PretrainedWeights.fetch("http://127.0.0.1:" + server.getAddress().getPort() + "/x.zip", target, 0));
            assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
            try (Stream<Path> left = Files.list(dir)) {
                assertEquals(0, left.count(), "nothing written");
            }
        } finally {
            server.stop(0);
        }
    }

    @Test
    void vgg16WithImagenetWeightsOfflineFailsFastWithOneLine(@TempDir Path dir) throws Exception {
        int closedPort = closedPort();
        String oldBase = org.deeplearning4j.common.resources.DL4JResources.getBaseDownloadURL();
        java.io.File oldDir = org.deeplearning4j.common.resources.DL4JResources.getBaseDirectory();
        org.deeplearning4j.common.resources.DL4JResources.setBaseDownloadURL("http://127.0.0.1:" + closedPort + "/");
        org.deeplearning4j.common.resources.DL4JResources.setBaseDirectory(dir.toFile());
        try {
            org.xraydl.config.RunConfig c = org.xraydl.config.ConfigLoader.load(
                    org.xraydl.TestData.projectDir().resolve("config/vgg16.yaml"), java.util.Map.of());
            UserError e = assertThrows(UserError.class, () -> ModelFactory.create(c, 2, null));
            assertTrue(e.getMessage().startsWith("cannot download ImageNet weights from http://127.0.0.1:" + closedPort), e.getMessage());
            assertTrue(e.getMessage().contains(dir.toString()), "names the cache folder to put the file in: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
        } finally {
            org.deeplearning4j.common.resources.DL4JResources.setBaseDownloadURL(oldBase);
            org.deeplearning4j.common.resources.DL4JResources.setBaseDirectory(oldDir);
        }
    }

    // ---------------------------------------------------------------- DenseNet-121 from Keras' published file

    @Test
    void densenet121ImagenetIsDownloadedOnceCheckedAndLoadedIntoTheTrunk(@TempDir Path dir) throws Exception {
        Class.forName(org.deeplearning4j.nn.modelimport.keras.Hdf5Archive.class.getName()); // loads the native HDF5 library
        KerasWeightsTest.KerasFile keras = KerasWeightsTest.KerasFile.denseNet(32, List.of(6, 12, 24, 16), 64, 1, 9L);
        keras.layers.remove("fc1000"); // the no-top file
        Path generated = keras.write(Files.createDirectories(dir.resolve("served")).resolve("w.h5"), false, false);
        byte[] body = Files.readAllBytes(generated);
        String md5 = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(body));
        java.util.concurrent.atomic.AtomicInteger downloads = new java.util.concurrent.atomic.AtomicInteger();
        HttpServer server = loopbackServer();
        HttpHandler answer = answering(body);
        server.createContext("/mirror/densenet/" + PretrainedWeights.DENSENET121_NOTOP, ex -> {
            downloads.incrementAndGet();
            answer.handle(ex);
        });
        server.start();
        Path cache = dir.resolve("cache");
        try (KerasMirror ignored = new KerasMirror("http://127.0.0.1:" + server.getAddress().getPort() + "/mirror/densenet", cache, md5)) {
            org.deeplearning4j.nn.graph.ComputationGraph net = ModelFactory.create(densenet121Config(), 2, null);
            Path cached = cache.resolve("models/densenet121/" + PretrainedWeights.DENSENET121_NOTOP);
            assertTrue(Arrays.equals(body, Files.readAllBytes(cached)), "cached under the DL4J resources folder, byte for byte");
            float[] mean = keras.layers.get("bn").get("moving_mean").data();
            float[] gamma = keras.layers.get("conv1/bn").get("gamma").data();
            assertArrayEquals(mean, net.getLayer("bn").getParam("mean").toFloatVector(), 0f);
            assertArrayEquals(gamma, net.getLayer("conv1/bn").getParam("gamma").toFloatVector(), 0f);

            ModelFactory.create(densenet121Config(), 2, null);
            assertEquals(1, downloads.get(), "the second model uses the cached file");
        } finally {
            server.stop(0);
        }
    }

    @Test
    void densenet121WithAWrongHashIsDeletedWithOneLine(@TempDir Path dir) throws Exception {
        byte[] body = "not Keras' weights".getBytes(StandardCharsets.UTF_8);
        HttpServer server = loopbackServer();
        server.createContext("/", answering(body));
        server.start();
        Path cache = dir.resolve("cache");
        Path cached = cache.resolve("models/densenet121/" + PretrainedWeights.DENSENET121_NOTOP);
        try (KerasMirror ignored = new KerasMirror("http://127.0.0.1:" + server.getAddress().getPort() + "/",
                cache, PretrainedWeights.DENSENET121_NOTOP_MD5)) {
            UserError e = assertThrows(UserError.class, () -> ModelFactory.create(densenet121Config(), 2, null));
            assertTrue(e.getMessage().startsWith("checksum mismatch for " + cached + " (MD5 "), e.getMessage());
            assertTrue(e.getMessage().contains("expected 4912a53fbd2a69346e7f2c0b5ec8c6d3"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            assertFalse(Files.exists(cached), "the bad download is deleted");
            try (Stream<Path> left = Files.list(cached.getParent())) {
                assertEquals(0, left.count(), "no temp file left either");
            }
        } finally {
            server.stop(0);
        }
    }

    @Test
    void densenet121OfflineSaysWhichFileToPutWhere(@TempDir Path dir) throws Exception {
        int closedPort = closedPort();
        Path cache = dir.resolve("cache");
        Path cached = cache.resolve("models/densenet121/" + PretrainedWeights.DENSENET121_NOTOP);
        try (KerasMirror ignored = new KerasMirror("http://127.0.0.1:" + closedPort, cache, PretrainedWeights.DENSENET121_NOTOP_MD5)) {
            UserError e = assertThrows(UserError.class, () -> ModelFactory.create(densenet121Config(), 2, null));
            assertTrue(e.getMessage().startsWith("cannot download ImageNet weights from http://127.0.0.1:" + closedPort + "/"
                    + PretrainedWeights.DENSENET121_NOTOP), e.getMessage());
            assertTrue(e.getMessage().contains("put " + PretrainedWeights.DENSENET121_NOTOP
                    + " (MD5 4912a53fbd2a69346e7f2c0b5ec8c6d3) at " + cached), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            assertFalse(Files.exists(cached));
        }
    }

    @Test
    void theCompactDensenetRefusesImagenetWeightsWithOneLine() {
        org.xraydl.config.RunConfig c = org.xraydl.TestData.tinyConfig(java.util.Map.of("weights", "imagenet"));
        UserError e = assertThrows(UserError.class, () -> ModelFactory.create(c, 2, null));
        assertTrue(e.getMessage().startsWith("ImageNet weights exist for densenet121 only"), e.getMessage());
    }

    /** A port nothing listens on (it was free a moment ago): connecting is refused. */
    private static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** An HTTP server on a free loopback port, not started. */
    private static HttpServer loopbackServer() throws IOException {
        return HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    }

    private static final HttpHandler NOT_FOUND = ex -> {
        ex.sendResponseHeaders(404, -1);
        ex.close();
    };

    /** Answers every request 200 with {@code body}. */
    private static HttpHandler answering(byte[] body) {
        return ex -> {
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        };
    }

    private static org.xraydl.config.RunConfig densenet121Config() {
        return org.xraydl.config.ConfigLoader.load(org.xraydl.TestData.projectDir().resolve("config/densenet121.yaml"),
                java.util.Map.of("imageSize", 32, "headHidden", List.of(8), "headDropout", List.of(0.1)));
    }

    /** Points the Keras download at a loopback server and the DL4J cache at a temp folder; restores both. */
    private static final class KerasMirror implements AutoCloseable {
        private final String oldBase = System.getProperty(PretrainedWeights.KERAS_BASE_URL_PROPERTY);
        private final java.io.File oldDir = org.deeplearning4j.common.resources.DL4JResources.getBaseDirectory();

        KerasMirror(String baseUrl, Path cache, String md5) {
            System.setProperty(PretrainedWeights.KERAS_BASE_URL_PROPERTY, baseUrl);
            org.deeplearning4j.common.resources.DL4JResources.setBaseDirectory(createDirectories(cache).toFile());
            PretrainedWeights.densenet121NotopMd5 = md5;
        }

        private static Path createDirectories(Path dir) {
            try {
                return Files.createDirectories(dir);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        @Override
        public void close() {
            if (oldBase == null) {
                System.clearProperty(PretrainedWeights.KERAS_BASE_URL_PROPERTY);
            } else {
                System.setProperty(PretrainedWeights.KERAS_BASE_URL_PROPERTY, oldBase);
            }
            org.deeplearning4j.common.resources.DL4JResources.setBaseDirectory(oldDir);
            PretrainedWeights.densenet121NotopMd5 = PretrainedWeights.DENSENET121_NOTOP_MD5;
        }
    }
}
