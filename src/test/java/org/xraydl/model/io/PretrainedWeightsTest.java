package org.xraydl.model.io;

import org.xraydl.model.ModelFactory;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.UserError;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PretrainedWeightsTest {

    @Test
    void unreachableServerGivesOneLineErrorSayingWhereToPutTheFile(@TempDir Path dir) throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
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
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/w.zip", ex -> {
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        server.createContext("/missing.zip", ex -> {
            ex.sendResponseHeaders(404, -1);
            ex.close();
        });
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
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            ex.sendResponseHeaders(404, -1);
            ex.close();
        });
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
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
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
}
